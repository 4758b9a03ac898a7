"""Architecture search over NASNet-style cells: random search, regularised (aging) evolution and
the one-shot supernet (``cnnzoo.nas.oneshot``), driven through an Optuna study in SQLite (every
trial recorded, a killed search resumes).

B. Zoph et al. Learning Transferable Architectures for Scalable Image Recognition. CVPR, 2018
(the cell space); E. Real, A. Aggarwal, Y. Huang, Q. V. Le. Regularized Evolution for Image
Classifier Architecture Search. AAAI, 2019 (aging evolution: keep the last P models, pick the
best of S sampled from them, mutate one operation or one input, the oldest dies).

Each candidate is trained briefly with the cnnzoo engine on a Fashion-MNIST subset (the proxy
task), its batch-norm statistics are recomputed on the training images, and it is ranked by
accuracy on the held-out validation part of the training set; the test set is never used.
The one-shot strategy trains one supernet instead and scores each candidate with the weights it
inherits from it (seconds instead of a training run). Optuna's ``RandomSampler`` draws the
random trials; evolution (also the one-shot search's) proposes its children with
``enqueue_trial``, so all strategies share one storage and one record.
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

from cnnzoo.analysis import summary
from cnnzoo.data import load_data
from cnnzoo.data.core import DataBundle, stratified_subset
from cnnzoo.models.nascell import OPERATIONS, CellNet, format_genotype
from cnnzoo.nas.oneshot import SuperNet, score_on_supernet, train_supernet
from cnnzoo.nas.proxy import recalibrate_batch_norm
from cnnzoo.train import evaluate, fit, load_recipe

__all__ = [
    "BLOCKS",
    "STRATEGIES",
    "SearchConfig",
    "evaluate_genotype",
    "load_study",
    "mutate",
    "random_cell",
    "random_genotype",
    "recalibrate_batch_norm",
    "run_search",
    "search_table",
]

BLOCKS = 3  # blocks per cell (NASNet: 5); a smaller space for a CPU budget
OPS = list(OPERATIONS)
CELLS = ("normal", "reduce")
STRATEGIES = ("random", "evolution", "oneshot")
Score = Callable[[str, int], dict[str, float]]


@dataclass
class SearchConfig:
    strategy: str = "evolution"  # or "random", "oneshot"
    trials: int = 30  # candidates: proxy-trained (~15 CPU-s each) or scored on the supernet (~3)
    budget_minutes: float = 30.0  # CPU minutes, summed over trials (and the supernet)
    population: int = 8
    sample_size: int = 3
    proxy_images: int = 2000  # per split of Fashion-MNIST (train part and validation part)
    proxy_epochs: int = 2
    width: int = 8
    seed: int = 0
    data: str = "fashion_mnist"  # "digits" for tests and smoke runs
    supernet_images: int = 6000  # oneshot: training images of the supernet
    supernet_epochs: int = 3  # oneshot: 141 steps of batch 128, ~2 CPU-minutes here
    score_images: int = 500  # oneshot: validation images per candidate (+ 256 for its BN)

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(
                f"strategy must be one of {', '.join(STRATEGIES)}, got {self.strategy!r}"
            )
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


def random_cell(rng: random.Random) -> str:
    """A genotype drawn uniformly from the space."""
    return _genotype(random_genotype(rng))


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
    recalibrate_batch_norm(model, data.train, data.mean, data.std)
    val = evaluate(model, data.val, mean=data.mean, std=data.std, num_classes=data.num_classes)
    return {
        "val_acc": float(val.top1),
        "val_acc_running_bn": float(result.best["val_acc"]),
        "params": s.total_params,
        "macs": s.macs,
        "cpu_seconds": time.process_time() - started,
    }


def run_search(
    config: SearchConfig,
    out_dir: str | Path,
    data_dir: str | None = None,
    log: Callable[[str], None] | None = None,
) -> optuna.Study:
    """Run (or continue) a search in ``out_dir`` (``study.db``, and one run folder per trial or
    the supernet's ``supernet.pt``) until ``config.trials`` trials or ``config.budget_minutes``
    of CPU time are spent."""
    say = log or (lambda line: None)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    study = _open_study(config, out)
    if config.strategy == "oneshot":
        scored_on = study.user_attrs.get("supernet_epochs", config.supernet_epochs)
        if scored_on != config.supernet_epochs:
            raise ValueError(
                f"{out} scored its trials on a supernet trained {scored_on} epochs; keep "
                f"--supernet-epochs {scored_on} to continue it, or search in a new --out"
            )
        score, spent = _supernet_scorer(config, out, data_dir, say)
        study.set_user_attr("supernet_epochs", config.supernet_epochs)
        study.set_user_attr("supernet_cpu_seconds", spent)
    else:
        data = load_data(config.data, data_dir, seed=config.seed, limit=config.proxy_images)

        def score(genotype: str, number: int) -> dict[str, float]:
            run_dir = out / "trials" / f"{config.strategy}-{number:03d}"
            return evaluate_genotype(genotype, data, config, run_dir)

        spent = 0.0
    _run_trials(study, config, score, spent, say)
    return study


def _open_study(config: SearchConfig, out: Path) -> optuna.Study:
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
    return study


def _supernet_scorer(
    config: SearchConfig, out: Path, data_dir: str | None, say: Callable[[str], None]
) -> tuple[Score, float]:
    """Train (or finish training) the supernet; a scorer of genotypes on its weights, and the
    CPU seconds its training cost."""
    data = load_data(config.data, data_dir, seed=config.seed, limit=config.supernet_images)
    torch.manual_seed(config.seed)
    supernet = SuperNet(BLOCKS, data.num_classes, data.in_chans, width=config.width)
    spent = train_supernet(
        supernet,
        data,
        random_cell,
        config.supernet_epochs,
        out / "supernet.pt",
        seed=config.seed,
        log=say,
    )
    calibration = data.train.subset(stratified_subset(data.train.labels, 256, config.seed))
    val = data.val.subset(stratified_subset(data.val.labels, config.score_images, config.seed))

    def score(genotype: str, number: int) -> dict[str, float]:
        started = time.process_time()
        accuracy = score_on_supernet(supernet, genotype, data, calibration, val)
        s = summary(
            CellNet(genotype, data.num_classes, data.in_chans, width=config.width),
            input_size=data.input_size,
        )
        return {
            "val_acc": accuracy,
            "params": s.total_params,
            "macs": s.macs,
            "cpu_seconds": time.process_time() - started,
        }

    return score, spent


def _run_trials(
    study: optuna.Study,
    config: SearchConfig,
    score: Score,
    spent_before: float,
    say: Callable[[str], None],
) -> None:
    """Random trials, then (evolution, oneshot) aging evolution, until the trials or the budget
    are used up."""
    rng = random.Random(config.seed + len(study.trials))
    while True:
        done = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
        spent = (spent_before + sum(t.user_attrs["cpu_seconds"] for t in done)) / 60
        if len(done) >= config.trials or spent >= config.budget_minutes:
            say(f"{config.strategy}: {len(done)} trials, {spent:.1f} CPU-minutes in all")
            return
        if config.strategy != "random" and len(done) >= config.population:
            population = sorted(done, key=lambda t: t.number)[-config.population :]  # aging
            parent = max(rng.sample(population, config.sample_size), key=lambda t: t.value)
            study.enqueue_trial(mutate(parent.params, rng))
        trial = study.ask()
        params = {key: trial.suggest_categorical(key, choices) for key, choices in _keys()}
        genotype = _genotype(params)
        result = score(genotype, trial.number)
        for key, value in {"genotype": genotype, **result}.items():
            trial.set_user_attr(key, value)
        study.tell(trial, result["val_acc"])
        say(
            f"trial {trial.number}: val {result['val_acc']:.2f}%  {result['params']:,} params  "
            f"{result['macs'] / 1e6:.2f}M MACs  {result['cpu_seconds']:.0f} CPU-s"
        )


def load_study(out: str | Path, strategy: str) -> optuna.Study:
    """The study of ``strategy`` in a search folder made by :func:`run_search`."""
    path = Path(out) / "study.db"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} does not exist; give a folder made by `cnnzoo nas search --out`"
        )
    try:
        return optuna.load_study(study_name=strategy, storage=f"sqlite:///{path}")
    except KeyError:
        raise KeyError(
            f"{path} has no {strategy!r} search; run "
            f"`cnnzoo nas search --strategy {strategy} --out {out}`"
        ) from None


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
