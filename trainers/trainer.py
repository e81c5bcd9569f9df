"""The detection training loop: ``train(...) -> TrainResult``.

Routing regimes. The live model trains with soft top-K (``model.train()``: every expert runs on every
image, outputs mixed with the renormalised top-K weights, zeros elsewhere), so gradients reach the
router. Validation and the shipped weights run hard top-K (``model.eval()``: only the K selected
experts execute). The two compute the same function of the weights because BatchNorm in eval mode
is a fixed per-channel affine map: an expert's output for an image does not depend on which other
images reached that expert.

BatchNorm statistics. In dense training every expert's BN normalises the whole batch, routed images
or not, and the layers downstream learn against exactly that normalisation; the running statistics
estimate it. Re-estimating expert BN only on the images routed to each expert (what sparse
execution would see in train mode) would change the normalisation the network was trained with, so
the statistics are deliberately kept as collected: they are the ones inference uses, and
``tests/trainers`` checks that dense and sparse evaluation of a trained checkpoint agree.
"""
from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Optional, Sequence

import torch
from torch.utils.data import DataLoader

from edge_moe.checkpoint import load_checkpoint, model_from_checkpoint
from edge_moe.data import load_data
from edge_moe.data.loader import TrainDataset, collate_train
from edge_moe.errors import UserError
from edge_moe.models import create_model
from edge_moe.models.ensembles import ensemble_from_experts, is_ensemble
from edge_moe.models.registry import model_task
from edge_moe.moe import moe_layers, set_router_warmup, update_selection_bias
from edge_moe.moe.losses import auto_balance_loss, balance_loss_weights, default_z_loss
from edge_moe.threads import torch_threads
from edge_moe.trainers.config import ROUTER_TRAINING, TrainConfig
from edge_moe.trainers.distributed import GlobalBatchSampler, World, broadcast_from_main, join_world, leave_world, summed_over_ranks
from edge_moe.trainers.loss import DetectionLoss, LossGains
from edge_moe.trainers.optim import lr_factor, schedule_steps, set_lr, settle_routers, warmup_share
from edge_moe.trainers.plots import plot_history
from edge_moe.trainers.precise_bn import recompute_batchnorm_statistics, training_batches
from edge_moe.trainers.run import banner, save_epoch, start_run, weight_paths
from edge_moe.trainers.state import seed_everything
from edge_moe.trainers.validator import EvalResult, evaluate, format_result


@dataclass
class TrainResult:
    out: Path
    best_weights: Path
    last_weights: Path
    metrics: dict[str, Any]  # final validation of best.pt (EvalResult.to_dict())
    history: list[dict] = field(default_factory=list)
    wall_s: float = 0.0

    @property
    def expert_usage(self) -> list[dict]:
        return self.metrics.get("expert_usage", [])


def resolve_device(device: str) -> str:
    if device == "cpu":
        return device
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UserError(f"--device {device}: CUDA is not available on this machine (use --device cpu)")
        return device
    raise UserError(f"--device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}")


def _fitness(metrics: dict[str, float]) -> float:
    return 0.1 * metrics["map50"] + 0.9 * metrics["map50_95"]


RESUME_MAY_CHANGE = ("device", "workers", "threads")  # how a resumed run executes, not what it trains


def train(config: Optional[TrainConfig] = None, resume: bool = False, progress: bool = True, exist_ok: bool = False,
          given: Sequence[str] = (), **options: Any) -> TrainResult:
    """Trains a model of any task (dispatched by the model's ``config.task``); ``options`` are :class:`TrainConfig` fields (``model=``, ``data=``, ``epochs=``...).

    ``out`` holding a run already: the run goes to ``out2`` (``out3``...) unless ``exist_ok`` (Ultralytics' rule).
    With ``resume=True`` the run in ``out`` continues from ``weights/last.pt`` with its saved options; only
    ``device``, ``workers`` and ``threads`` may change, and ``epochs`` above the saved total extends the run.
    ``given``: the config fields the user set explicitly; on resume each must agree with the saved run.
    Under torchrun (``WORLD_SIZE`` > 1) every rank calls this; rank 0 alone prints and writes the run folder.
    """
    config = replace(config or TrainConfig(), **{k: (str(v) if k == "out" else v) for k, v in options.items()})
    world, device = join_world(resolve_device(config.device))
    try:
        with contextlib.nullcontext() if world.is_main else contextlib.redirect_stdout(open(os.devnull, "w")):
            result = _train_in_world(config, resume, progress and world.is_main, exist_ok, given, world, device)
        broadcast_from_main(None, world)  # a barrier: no rank tears its process group down while rank 0 still works
        return result
    finally:
        leave_world(world)


def _train_in_world(config: TrainConfig, resume: bool, progress: bool, exist_ok: bool, given: Sequence[str], world: World,
                    device: str) -> TrainResult:
    out = broadcast_from_main(run_folder(Path(config.out), resume, exist_ok) if world.is_main else None, world)
    config = replace(config, out=str(out))
    last_path, _ = weight_paths(out)
    saved: Optional[dict] = None
    if resume:
        saved = _resume_state(last_path)
        config = _resumed_config(TrainConfig.from_dict(saved["config"]), config, given, saved["train_state"]["epoch"], last_path)
    print(f"run folder: {out}")
    print(f"world size {world.size}" + (f" ({'nccl' if device.startswith('cuda') else 'gloo'}): global batch {config.batch} split "
                                        f"across {world.size} processes" if world.distributed else ""))
    with torch_threads(config.threads):
        if model_task(config.model) == "classify":
            from edge_moe.trainers.classify import train_classifier

            return train_classifier(config, saved, device, out, progress, world)
        return _train(config, saved, device, out, progress, world)


def _train(config: TrainConfig, saved: Optional[dict], device: str, out: Path, progress: bool, world: World = World()) -> TrainResult:
    from tqdm import tqdm

    seed_everything(config.seed)
    data = load_data(config.data)
    names = data.names
    model = _build_detector(config, names)
    refuse_unused_router_options(config, model)
    routers = [layer.router for layer in moe_layers(model)]
    own_loss = getattr(model, "moe_loss_weights", None)
    if config.balance_loss == "auto" and routers and own_loss is None:
        # Checkpoints record the loss "auto" chose; one saved with "auto" is from before it chose mi
        config = replace(config, balance_loss=auto_balance_loss(routers, mi_for_standardised=saved is None))
    model.to(device, memory_format=torch.channels_last)  # faster depthwise convs on CPU and GPU
    run = start_run(config, out, model, saved, device, world)
    z_loss = config.z_loss if config.z_loss is not None else default_z_loss(routers)
    aux_weights = own_loss or balance_loss_weights(config.balance_loss, z_loss)
    criterion = DetectionLoss(model.head, LossGains(moe=config.moe_coef), aux_weights)
    dataset = TrainDataset(data.split("train"), config.imgsz, config.augment, config.seed)
    sampler = GlobalBatchSampler(len(dataset), config.batch, config.seed, world)
    total_steps, warmup = schedule_steps(len(dataset), config.batch, config.epochs, config.warmup_epochs)
    router_warmup = round(config.router_warmup * len(sampler))  # iterations
    use_amp = config.amp and device.startswith("cuda")
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    started = time.perf_counter()
    print(banner(config, data.spec, len(dataset), len(data.split("val")), len(names), device))

    for epoch in range(run.start_epoch, config.epochs):
        epoch_start = time.perf_counter()
        dataset.set_epoch(epoch, mosaic_on=epoch < config.epochs - config.close_mosaic, hsv_on=epoch < config.epochs - config.close_hsv)
        sampler.set_epoch(epoch)
        settle_routers(run.optimizer, epoch, config.router_lr_settle)
        loader = DataLoader(dataset, batch_sampler=sampler, num_workers=config.workers, collate_fn=collate_train)
        model.train()
        sums = {"box": 0.0, "cls": 0.0, "dfl": 0.0, "moe": 0.0}
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{config.epochs}", leave=False, disable=not progress)
        for images, targets in bar:
            lr = config.lr0 * lr_factor(run.iteration, total_steps, warmup, config.lrf)
            set_lr(run.optimizer, lr)
            set_router_warmup(model, warmup_share(run.iteration, router_warmup))
            x = images.to(device, non_blocking=True, memory_format=torch.channels_last).float() / 255.0  # (B, 3, S, S)
            with torch.autocast("cuda", dtype=torch.float16, enabled=use_amp):
                outputs, routings = run.trained(x)
            loss, parts = criterion(outputs, routings, targets.to(device))
            parts = summed_over_ranks(parts, world)
            run.optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss * world.size).backward()  # DDP averages the ranks' gradients; the global loss is the sum of shares
            scaler.unscale_(run.optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip_grad)
            scaler.step(run.optimizer)
            scaler.update()
            update_selection_bias(model, routings)
            run.ema.update(model)
            run.iteration += 1
            for key in sums:
                sums[key] += parts[key]
            bar.set_postfix({k: f"{v:.3f}" for k, v in parts.items()}, refresh=False)
        steps = max(len(loader), 1)
        recompute_batchnorm_statistics(run.ema.module, training_batches(dataset, config.precise_bn, config.batch, config.seed, epoch, device))
        result = evaluate(run.ema.module, data.split("val"), config.imgsz, batch=max(config.batch, 16), device=device, progress=progress,
                          world=world)
        if not world.is_main:
            continue  # rank 0 scored the predictions of every rank and writes; the others wait in the next epoch's first step
        row = _history_row(epoch, lr, {k: v / steps for k, v in sums.items()}, result, time.perf_counter() - epoch_start)
        save_epoch(run, row, _fitness(result.metrics), {k: float(v) for k, v in result.metrics.items()}, names, plot_history)
        _report_epoch(row, result, config.epochs)

    return _finish(config, data, out, run.history, time.perf_counter() - started, progress, world, device)


def _build_detector(config: TrainConfig, names: list[str]) -> torch.nn.Module:
    """The zoo model, or with ``config.experts`` the ensemble of those expert checkpoints (checked before anything is written)."""
    if config.experts:
        if not is_ensemble(config.model):
            raise UserError(f"--experts is for the yolo-moe-* ensembles, not --model {config.model}")
        model, expert_names = ensemble_from_experts(config.model, config.experts, config.freeze_experts, config.imgsz)
        if expert_names != names:
            raise UserError(f"--experts {', '.join(config.experts)}: class names {expert_names} differ from --data {config.data}'s {names}")
        return model
    moe = {"moe": dict(config.moe_options)} if config.moe_options else {}
    try:
        return create_model(config.model, num_classes=len(names), imgsz=config.imgsz, use_dfl=config.use_dfl, **moe)
    except ValueError as error:
        raise UserError(f"--model {config.model}: {error}") from None


def refuse_unused_router_options(config: TrainConfig, model: torch.nn.Module) -> None:
    if not moe_layers(model):
        config.refuse_unused(ROUTER_TRAINING, "has no MoE layers (a dense model)")
    elif getattr(model, "moe_loss_weights", None) is not None:
        config.refuse_unused(ROUTER_TRAINING, "brings its own MoE loss and runs every expert (K = E)")


def run_folder(out: Path, resume: bool, exist_ok: bool) -> Path:
    """Where the run is written: ``out``, or the first free ``out2``, ``out3``... when ``out`` is taken."""
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: is a file; expected a run folder (weights/, results.csv, plots)")
    if resume or exist_ok or not out.exists() or not any(out.iterdir()):
        return out
    number = 2
    while (out.parent / f"{out.name}{number}").exists():
        number += 1
    return out.parent / f"{out.name}{number}"


def _resumed_config(saved: TrainConfig, asked: TrainConfig, given: Sequence[str], done: int, last_path: Path) -> TrainConfig:
    """The saved run's options, with what may change on resume; an explicit option that disagrees is an error."""
    for name in given:
        if name in RESUME_MAY_CHANGE or name in ("epochs", "out") or not hasattr(saved, name.split(".")[0]):
            continue
        mine, theirs = _field(asked, name), _field(saved, name)
        if mine != theirs:
            raise UserError(f"--resume continues {last_path} with its saved options: {name} {mine!r} differs from the saved "
                            f"{theirs!r} (drop the option, or start a new run with another --out)")
    epochs = asked.epochs if "epochs" in given else saved.epochs
    if epochs < done:
        raise UserError(f"--epochs {epochs}: {last_path} has already trained {done} epochs")
    if epochs <= done:
        raise UserError(f"{last_path}: training already finished ({done}/{saved.epochs} epochs); "
                        f"give --epochs above {done} to extend it")
    print(f"resuming {last_path} from epoch {done + 1} of {epochs}" + (f" (extended from {saved.epochs})" if epochs > saved.epochs else ""))
    return replace(saved, epochs=epochs, **{k: getattr(asked, k) for k in RESUME_MAY_CHANGE})


def _field(config: TrainConfig, name: str) -> Any:
    """A TrainConfig field; ``augment.mosaic`` style names reach into the augmentation config."""
    value: Any = config
    for part in name.split("."):
        value = getattr(value, part)
    return value


def _resume_state(last_path: Path) -> dict:
    if not last_path.is_file():
        raise UserError(f"{last_path}: nothing to resume (no last.pt in this --out folder)")
    payload = load_checkpoint(last_path)
    if "train_state" not in payload or "config" not in payload.get("train", {}):
        raise UserError(f"{last_path}: checkpoint has no training state to resume from")
    return {"config": payload["train"]["config"], "train_state": payload["train_state"]}


def _history_row(epoch: int, lr: float, losses: dict[str, float], result: EvalResult, seconds: float) -> dict:
    m = result.metrics
    row: dict[str, Any] = {"epoch": epoch + 1, "lr": lr, **losses}
    row.update({k: float(m[k]) for k in ("map50_95", "map50", "ar100", "ms_per_image")})
    for regime, metrics in result.by_regime.items():
        row[f"map50:{regime}"] = float(metrics["map50"])
    for usage in result.usage:
        for e, share in enumerate(usage.share):
            row[f"usage:{usage.layer}:e{e}"] = float(share)
        row[f"entropy:{usage.layer}"] = usage.entropy
    row["seconds"] = seconds
    return row


def _report_epoch(row: dict, result: EvalResult, epochs: int) -> None:
    from tqdm import tqdm

    tqdm.write(
        f"epoch {row['epoch']}/{epochs}  loss box {row['box']:.3f} cls {row['cls']:.3f} dfl {row['dfl']:.3f} moe {row['moe']:.3f}"
        f"  |  mAP50-95 {row['map50_95']:.4f} mAP50 {row['map50']:.4f} AR100 {row['ar100']:.4f}  ({row['seconds']:.0f} s)"
    )
    for usage in result.usage:
        tqdm.write(f"    {usage.layer:<18} " + " ".join(f"{s:4.0%}" for s in usage.share) + f"  entropy {usage.entropy:.2f}")
    if result.warnings:
        rule = "!" * 100
        tqdm.write("\n".join([rule, *(f"!!! ROUTING WARNING {w}" for w in result.warnings), rule]))


def _finish(config: TrainConfig, data, out: Path, history: list[dict], wall: float, progress: bool, world: World, device: str) -> TrainResult:
    """Validates best.pt as it will be shipped (rebuilt from the file, hard top-K) and prints it (every rank predicts
    its share of the val set; rank 0 scores and prints, the others return no metrics)."""
    broadcast_from_main(None, world)  # a barrier: rank 0 has written best.pt
    last_path, best_path = weight_paths(out)
    model, _ = model_from_checkpoint(best_path)
    model.to(device)
    result = evaluate(model, data.split("val"), config.imgsz, batch=max(config.batch, 16), device=device, progress=progress, world=world)
    if result is None:
        return TrainResult(out, best_path, last_path, {}, history, wall)
    print(format_result(result, f"final validation of {best_path} (hard top-K):"))
    print(f"results: {out / 'results.csv'}, plots: {out}/*.png, weights: {best_path}, {last_path}")
    return TrainResult(out, best_path, last_path, result.to_dict(), history, wall)
