"""(grows as features land)"""
from .vtop import vtop  # noqa: F401
