"""Retort's PyTorch worker package.

Modules (import them directly; importing the package has no side effects):
  protocol        the runner <-> worker wire format (mirror of src/runner/protocol.ts)
  worker          `python3 -m retort_torch.worker --job DIR`: runs one job (CLI)
  serve           `python3 -m retort_torch.serve`: the long-lived load/probe/generate worker (CLI)
  jobs/           the recipes: distill, teacher_generate, evaluate (+ sampling, common)
  spec            JobSpec (src/core/schema) -> typed dataclasses with the schema's defaults
  data            tokenized rows -> resumable, sharded micro-batches (packing masks)
  checkpoint      atomic step-N folders, manifests, pruning
  events, control JSON-lines events out; stdin control lines and SIGTERM in
  distributed     torchrun: process group, DDP/FSDP, collectives
  schedules       lr and temperature schedules (mirror of src/core/schedules.ts)
  answers         boxed-answer checker (mirror of src/core/answers.ts)
  traces          teacher-trace filters, dedup, curriculum
  openai_client   OpenAI-compatible chat completions over urllib
  tokenizer       ids -> text from tokenizer.json (decode only; the runner encodes)
  qat             fake-quantized linears for quantization-aware training
  safetensors_io  read/write HF safetensors by hand (F32, F16, BF16, sharded index)
  config          HF config.json -> ModelConfig (qwen2, qwen3, llama)
  model           the one Python decoder (HF numerics), KV cache, LoRA, load/save
  generate        sampling with the KV cache
  losses          distillation losses (dense, sparse top-k, chunked, hidden-state, attention-map)
  make_tiny       random tiny checkpoints for tests (CLI)
  reference       PyTorch numbers for the TypeScript engine's tests (CLI)
"""
