"""GRPO curriculum: every annealed quantity as a function of training progress (step / total steps).

Explore first, then sharpen (DESIGN.md): sampling temperature (and optional top-k) fall, the entropy
bonus beta falls .20 -> .02, the length-penalty weight l_l rises .02 -> .35, the rollout length cap
rises, and the teacher-forced CE anchor fades to 0. A pure function of progress, so a resumed or
lengthened run stays on it.
"""
from dataclasses import asdict, dataclass, fields


@dataclass(frozen=True)
class Ramp:
    """start -> end over progress 0 -> 1; `geometric` interpolates in log space (when both ends > 0)."""

    start: float
    end: float
    geometric: bool = False

    def at(self, progress: float) -> float:
        t = min(1.0, max(0.0, progress))
        if self.geometric and self.start > 0 and self.end > 0:
            return self.start * (self.end / self.start) ** t
        return self.start + (self.end - self.start) * t


@dataclass(frozen=True)
class Curriculum:
    temperature: Ramp = Ramp(1.2, 1.0)
    top_k: Ramp = Ramp(0, 0)  # 0: the full softmax
    max_new_tokens: Ramp = Ramp(768, 1536)
    length_weight: Ramp = Ramp(0.02, 0.35)  # l_l
    entropy_beta: Ramp = Ramp(0.20, 0.02, geometric=True)
    ce_weight: Ramp = Ramp(0.2, 0.0)

    def at(self, progress: float) -> dict:
        """The values in force at `progress`; integer quantities rounded."""
        values = {f.name: getattr(self, f.name).at(progress) for f in fields(self)}
        values["top_k"] = int(round(values["top_k"]))
        values["max_new_tokens"] = int(round(values["max_new_tokens"]))
        return values

    @classmethod
    def from_pairs(cls, **pairs) -> "Curriculum":
        """Curriculum(temperature=(1.3, 1.0), ...): pairs (start, end) for the fields given."""
        defaults = cls()
        ramps = {}
        for name, value in pairs.items():
            default = getattr(defaults, name)
            ramps[name] = default if value is None else Ramp(*value, geometric=default.geometric)
        return cls(**ramps)

    def to_dict(self) -> dict:
        return asdict(self)


__all__ = ["Ramp", "Curriculum"]
