"""The worker's jobs, one flat recipe per kind: distill, teacher_generate, eval (see worker.py)."""
