"""The range of /proc/<pid>/oom_score_adj (include/uapi/linux/oom.h)."""

OOM_SCORE_ADJ_MIN = -1000
OOM_SCORE_ADJ_MAX = 1000
