"""Architecture search over NASNet-style cells: random search and regularised (aging) evolution,
driven through an Optuna study in SQLite (every trial recorded, a killed search resumes).

B. Zoph et al. Learning Transferable Architectures for Scalable Image Recognition. CVPR, 2018
(the cell space); E. Real, A. Aggarwal, Y. Huang, Q. V. Le. Regularized Evolution for Image
Classifier Architecture Search. AAAI, 2019 (aging evolution: keep the last P models, pick the
best of S sampled from them, mutate one operation or one input, the oldest dies).

Each candidate is trained briefly with the cnnzoo engine on a Fashion-MNIST subset (the proxy
task), its batch-norm statistics are recomputed on the training images, and it is ranked by
accuracy on the held-out validation part of the training set; the test set is never used. Optuna's ``RandomSampler`` draws the random trials; evolution proposes
its children with ``enqueue_trial``, so both strategies share one storage and one record.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import optuna
import torch
import torch.nn as nn

from cnnzoo.analysis import summary
from cnnzoo.data import load_data
from cnnzoo.data.core import DataBundle, iterate_batches, normalize
from cnnzoo.models.nascell import OPERATIONS, CellNet, format_genotype
from cnnzoo.train import evaluate, fit, load_recipe

__all__ = [
    "BLOCKS",
    "SearchConfig",
    "evaluate_genotype",
    "mutate",
    "random_genotype",
    "recalibrate_batch_norm",
    "run_search",
    "search_table",
]

BLOCKS = 3  # blocks per cell (NASNet: 5); a smaller space for a CPU budget
OPS = list(OPERATIONS)
CELLS = ("normal", "reduce")


@dataclass
class SearchConfig:
    strategy: str = "evolution"  # or "random"
    trials: int = 40
    budget_minutes: float = 30.0  # CPU minutes of proxy training, summed over trials
    population: int = 8
    sample_size: int = 3
    proxy_images: int = 2000  # per split of Fashion-MNIST (train part and validation part)
    proxy_epochs: int = 2
    width: int = 8
    seed: int = 0
    data: str = "fashion_mnist"  # "digits" for tests and smoke runs

    def __post_init__(self) -> None:
        if self.strategy not in ("random", "evolution"):
            raise ValueError(f"strategy must be 'random' or 'evolution', got {self.strategy!r}")
        if not 2 <= self.sample_size <= self.population:
            raise ValueError("evolution needs 2 <= sample_size <= population")


def _keys() -> list[tuple[str, list[Any]]]:
    """The search space as Optuna parameters: per cell and block two (input, operation) pairs."""
    keys = []
    for cell in CELLS:
        for b in range(BLOCKS):
            for half in ("a", "b"):
                keys.append((f"{cell}{b}{half}_in", list(range(b + 2))))
                keys.append((f"{cell}{b}{half}_op", OPS))
    return keys


def _genotype(params: dict[str, Any]) -> str:
    cells = []
    for cell in CELLS:
        cells.append(
            [
                (
                    params[f"{cell}{b}a_op"],
                    params[f"{cell}{b}a_in"],
                    params[f"{cell}{b}b_op"],
                    params[f"{cell}{b}b_in"],
                )
                for b in range(BLOCKS)
            ]
        )
    return format_genotype(*cells)


def random_genotype(rng: random.Random) -> dict[str, Any]:
    return {key: rng.choice(choices) for key, choices in _keys()}


def mutate(params: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """Real et al.'s mutations: one operation or one input of one block changes (to a different
    value), everything else is inherited."""
    key, choices = rng.choice(_keys())
    child = dict(params)
    child[key] = rng.choice([c for c in choices if c != params[key]])
    return child


def evaluate_genotype(
    genotype: str, data: DataBundle, config: SearchConfig, run_dir: Path
) -> dict[str, float]:
    """Proxy-train a CellNet with the engine; its validation accuracy, size and cost."""
    recipe = load_recipe("fashion-cnn").override(
        epochs=config.proxy_epochs, batch_size=128, seed=config.seed
    )
    kwargs = {"genotype": genotype, "width": config.width}
    torch.manual_seed(config.seed)  # the same genotype starts from the same weights
    model = CellNet(genotype, data.num_classes, data.in_chans, width=config.width)
    s = summary(model, input_size=data.input_size)
    started = time.process_time()
    result = fit(
        model,
        data,
        recipe,
        run_dir,
        model_name="nas_cell",
        model_kwargs=kwargs,
        evaluate_test=False,
    )
    recalibrate_batch_norm(model, data)
    val = evaluate(model, data.val, mean=data.mean, std=data.std, num_classes=data.num_classes)
    return {
        "val_acc": float(val.top1),
        "val_acc_running_bn": float(result.best["val_acc"]),
        "params": s.total_params,
        "macs": s.macs,
        "cpu_seconds": time.process_time() - started,
    }


@torch.no_grad()
def recalibrate_batch_norm(model: nn.Module, data: DataBundle, batch_size: int = 256) -> None:
    """Recompute every batch norm's statistics as the plain average over the training images.

    A proxy run of a few dozen steps leaves the running averages (momentum 0.1) far from what
    the final weights produce, and the deep stacks of BN in a cell compound it: measured, such
    nets reached 45% training accuracy and 10% validation accuracy in eval mode. This is the
    usual remedy in proxy and one-shot NAS.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative average
    model.train()
    for images, _ in iterate_batches(data.train, batch_size, shuffle=False):
        model(normalize(images, data.mean, data.std))
    model.eval()
    for norm in norms:
        norm.momentum = 0.1


def run_search(
    config: SearchConfig,
    out_dir: str | Path,
    data_dir: str | None = None,
    log: Callable[[str], None] | None = None,
) -> optuna.Study:
    """Run (or continue) a search in ``out_dir`` (``study.db`` + one run folder per trial) until
    ``config.trials`` trials or ``config.budget_minutes`` of CPU time are spent."""
    say = log or (lambda line: None)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name=config.strategy,
        storage=f"sqlite:///{out / 'study.db'}",
        direction="maximize",
        sampler=optuna.samplers.RandomSampler(seed=config.seed),
        load_if_exists=True,
    )
    study.set_user_attr("config", asdict(config))
    for stale in study.get_trials(states=(optuna.trial.TrialState.RUNNING,)):
        study.tell(stale.number, state=optuna.trial.TrialState.FAIL)  # killed mid-trial
    data = load_data(config.data, data_dir, seed=config.seed, limit=config.proxy_images)
    rng = random.Random(config.seed + len(study.trials))
    while True:
        done = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
        spent = sum(t.user_attrs["cpu_seconds"] for t in done) / 60
        if len(done) >= config.trials or spent >= config.budget_minutes:
            say(f"{config.strategy}: {len(done)} trials, {spent:.1f} CPU-minutes of proxy training")
            return study
        if config.strategy == "evolution" and len(done) >= config.population:
            population = sorted(done, key=lambda t: t.number)[-config.population :]  # aging
            parent = max(rng.sample(population, config.sample_size), key=lambda t: t.value)
            study.enqueue_trial(mutate(parent.params, rng))
        trial = study.ask()
        params = {key: trial.suggest_categorical(key, choices) for key, choices in _keys()}
        genotype = _genotype(params)
        result = evaluate_genotype(
            genotype, data, config, out / "trials" / f"{config.strategy}-{trial.number:03d}"
        )
        for key, value in {"genotype": genotype, **result}.items():
            trial.set_user_attr(key, value)
        study.tell(trial, result["val_acc"])
        say(
            f"trial {trial.number}: val {result['val_acc']:.2f}%  {result['params']:,} params  {result['macs'] / 1e6:.2f}M MACs  {result['cpu_seconds']:.0f} CPU-s"
        )


def search_table(study: optuna.Study) -> list[dict[str, Any]]:
    """Completed trials, best first."""
    done = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    return [
        {
            "trial": t.number,
            "val_acc": t.value,
            **{k: t.user_attrs[k] for k in ("params", "macs", "cpu_seconds", "genotype")},
        }
        for t in sorted(done, key=lambda t: -t.value)
    ]
