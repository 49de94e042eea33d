"""What the study runs: the plan's entries and the budget and data every entry shares."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from steering.study.plan import StudyEntry, full_plan, quick_plan, select


@dataclass(frozen=True)
class StudyConfig:
    """The budget and data every entry shares, and what else the study measures."""

    out_dir: Path = Path("runs/study")
    log: Path | None = None  # a driving_log.csv; None = record the demo's recording into out_dir/data
    # the demo's recording (steering.demo.DemoConfig has the same defaults; a test holds them equal)
    record_track: str = "lake"
    record_laps: float = 5.0
    randomize_style: bool = True
    quick: bool = False  # two cheap entries, a few hundred frames, the suite's short rows: for CI
    entries: tuple[str, ...] = ()  # shell patterns of entry names to run (default: all of the plan)
    epochs: int = 2
    limit: int = 0  # training samples cap (0 = the whole recording); quick: 192
    batch_size: int = 32
    lr: float = 1e-3  # the head's (and a from-scratch backbone's) learning rate
    pretrained_backbone_lr: float = 1e-4  # pretrained layers: 10x slower than the new head
    workers: int = 1
    seed: int = 0
    variants: bool = True  # TTA flip of the best entry, and an ensemble of the two best that share preprocessing
    progress: bool = True

    def plan(self) -> list[StudyEntry]:
        return select(quick_plan() if self.quick else full_plan(), list(self.entries))

    def budget(self) -> str:
        limit = f"the first {self.limit} samples" if self.limit else "every sample"
        return (f"{self.epochs} epochs over {limit} of one recording (all three cameras, 0.2 side-camera "
                f"correction), validation on its center frames in 30-frame blocks (20 %), seed {self.seed}, "
                f"batch {self.batch_size}, AdamW, head lr {self.lr:g}; backbone lr {self.lr:g} from scratch, "
                f"{self.pretrained_backbone_lr:g} when pretrained; full augmentation except frozen (flip only, "
                f"so features are cached); two-phase: 1 head epoch then the top 2 stages; gradual: one more stage "
                f"per epoch")
