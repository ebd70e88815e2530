"""Stage 1 of the data flow: ToolBench trajectories → α-UMi training samples and static-evaluation steps.

``records`` (typed records, the conversion report) · ``jsonio`` (the official JSON layout, atomic writes) ·
``readers`` (raw answer files, stage-2 files, ToolEval answers) · ``stage1`` · ``stage2`` · ``roles`` (the
four role samples) · ``budget`` (token-budget truncation) · ``steps`` (static-evaluation items) ·
``pipeline`` (the ``umi convert`` pipelines) · ``profile_data`` (a profile's converted data).
"""
