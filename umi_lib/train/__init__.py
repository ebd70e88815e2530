"""Stage 2: GLPFT. Bases, precision, recipes, training stages, logs, and one base with every adapter attached.

``bases`` (registry, tokenizers, the offline SmolLM2 and tiny-random bases) · ``loading`` (precision and
quantization, sample encoding) · ``recipes`` (one YAML per stage) · ``samples`` (role files → held-out split →
token ids) · ``stages`` (TRL/PEFT training of each system's stages) · ``logs`` (training-log format) ·
``loaded`` (one base, every adapter) · ``probe`` (held-out loss and greedy generations for notebook 02).
"""
