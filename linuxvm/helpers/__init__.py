"""(grows as features land)"""
from .vtop import vtop  # noqa: F401
from .oom_explain import oom_explain  # noqa: F401
