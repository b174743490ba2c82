"""Names every part of a sweep agrees on, in a module that imports nothing: the key of a
trial's last report, and the metrics the summary reports with the direction that is better.
Trial actors, `status` and `sync` read these without loading MLflow or matplotlib."""

FINAL = "trial_finished"  # the key of a trial's last report (Tune's own "done" is set on trials it stops, too)
# Metrics the summary reports, with the direction that is better.
SUMMARY_METRICS = {"val_bpb_text": "min", "val_bpb_code": "min", "val_bpb_markup": "min",
                   "val_bpb_code_adjacent": "min", "val_bpb_synthetic": "min",
                   "nl_reasoning": "max", "nl_reasoning_bpb": "min", "world_knowledge": "max",
                   "world_knowledge_bpb": "min", "code_pass1": "max", "code_bpb": "min", "win_rate": "max"}
