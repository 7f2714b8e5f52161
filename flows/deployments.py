"""Deployments: the full build and the incremental schedules, registered on a Prefect server with process
work pools (`make prefect-server`, then `make deploy`, then `prefect worker start --pool derm1m`; on a CUDA
machine, `prefect worker start --pool derm1m-gpu` for the GPU training run).

A deployment runs `build_profile`, which takes a profile path rather than a RunConfig, so a schedule
keeps reading the profile as it is on disk when it fires. "Downstream for new items only" needs no
special flow: the stage driver skips every unit whose fingerprint is already in work_log, so a weekly
collect of new PMC windows and YouTube videos followed by the full stage list processes only what is new.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prefect import flow

from flows.build import STAGE_ORDER, build_derm1m
from flows.runners import DEFAULT_LIMITS
from pipeline.config import load_config

REPO = Path(__file__).resolve().parents[1]
DEFAULT_POOL = "derm1m"
GPU_POOL = "derm1m-gpu"  # only workers on CUDA machines poll it: the DermLIP recipe never lands on a CPU worker
ENTRYPOINT = "flows/deployments.py:build_profile"


@flow(name="derm1m-profile")
def build_profile(config: str = "configs/sample.yaml", stages: list[str] | None = None,
                  warehouse: str | None = None) -> list[dict[str, Any]]:
    """Load a profile (relative paths against the repository) and run the build flow on it."""
    path = Path(config) if Path(config).is_absolute() else REPO / config
    cfg = load_config(path)
    if warehouse:
        cfg.warehouse = Path(warehouse).resolve()
    return build_derm1m(cfg, stages=stages)


@dataclass(frozen=True)
class DeploymentSpec:
    name: str
    description: str
    parameters: dict[str, Any] = field(default_factory=dict)
    cron: str | None = None
    tags: tuple[str, ...] = ()
    gpu: bool = False  # runs on the GPU work pool


UPSTREAM = [s for s in STAGE_ORDER if s != "train"]
DEPLOYMENTS = (
    DeploymentSpec("build", "The whole pipeline on a profile (default: the sample corpus); run on demand.",
                   {"config": "configs/sample.yaml"}, tags=("full",)),
    DeploymentSpec("weekly-network", "Every Monday 04:00: new PubMed date windows and YouTube videos "
                   "(configs/derm1m.yaml), then preprocess to augment for the new items only.",
                   {"config": "configs/derm1m.yaml", "stages": UPSTREAM}, cron="0 4 * * 1",
                   tags=("incremental", "network")),
    DeploymentSpec("monthly-train", "On the 1st of each month: re-export and train the validation model "
                   "(DermLIP, CUDA) on the full-scale warehouse, on the GPU work pool.",
                   {"config": "configs/derm1m.yaml", "stages": ["train"]},
                   cron="0 6 1 * *", tags=("train", "gpu"), gpu=True),
)


def ensure_work_pool(name: str) -> bool:
    """Create a process work pool if the server has none by that name; True when it was created."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            client.read_work_pool(name)
            return False
        except ObjectNotFound:
            client.create_work_pool(WorkPoolCreate(name=name, type="process"))
            return True


def ensure_concurrency_limits(limits: dict[str, int] | None = None) -> dict[str, int]:
    """Tag concurrency limits (`prefect concurrency-limit create TAG N`): the tasks flows/stages.py tags
    `gpu`, `llm`, `download` and `host:<name>` then run at most N at once across all workers."""
    from prefect.client.orchestration import get_client

    limits = DEFAULT_LIMITS if limits is None else limits
    with get_client(sync_client=True) as client:
        for tag, n in limits.items():
            client.create_concurrency_limit(tag=tag, concurrency_limit=n)
    return dict(limits)


def deploy_all(pool: str = DEFAULT_POOL, specs: tuple[DeploymentSpec, ...] = DEPLOYMENTS,
               parameters: dict[str, Any] | None = None, schedules: bool = True,
               gpu_pool: str = GPU_POOL) -> list[str]:
    """Register every deployment on the server at PREFECT_API_URL; returns 'flow/deployment' names.
    GPU specs go to `gpu_pool`, the rest to `pool` (both created when missing). `parameters` overrides every
    spec's (tests point them at a tiny profile); schedules=False registers them without their crons."""
    from prefect import deploy

    source: Any = build_profile.from_source(source=str(REPO), entrypoint=ENTRYPOINT)
    for target in dict.fromkeys(gpu_pool if spec.gpu else pool for spec in specs):
        ensure_work_pool(target)
        deployments = [
            source.to_deployment(name=spec.name, work_pool_name=target, description=spec.description,
                                 parameters={**spec.parameters, **(parameters or {})},
                                 cron=spec.cron if schedules else None, tags=list(spec.tags))
            for spec in specs if (gpu_pool if spec.gpu else pool) == target
        ]
        # one deploy() per pool: deploy() sets its work_pool_name on every deployment it is given
        deploy(*deployments, work_pool_name=target, build=False, push=False, print_next_steps_message=False,
               ignore_warnings=True)
    return [f"{build_profile.name}/{spec.name}" for spec in specs]
