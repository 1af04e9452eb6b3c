"""Retort's PyTorch worker package.

Modules (import them directly; importing the package has no side effects):
  safetensors_io  read/write HF safetensors by hand (F32, F16, BF16, sharded index)
  config          HF config.json -> ModelConfig (qwen2, qwen3, llama)
  model           the one Python decoder (HF numerics), KV cache, LoRA, load/save
  generate        sampling with the KV cache
  losses          distillation losses (dense, sparse top-k, chunked, hidden-state)
  make_tiny       random tiny checkpoints for tests (CLI)
  reference       PyTorch numbers for the TypeScript engine's tests (CLI)
"""
