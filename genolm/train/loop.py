"""The training loop: setup → (resume) → steps with accumulation, clipping, schedule → periodic
validation (loss, bits per base) → atomic checkpoints → metrics (JSONL, TensorBoard, progress bar).

The loop is the same on a laptop CPU and on many GPUs: ``distributed.setup`` reads the torchrun
environment, ``distributed.wrap`` applies compile and DDP/FSDP2 from outside the model, and each
rank trains on its own slice of every global batch (``data.loader.BatchSampler``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import math
import shutil
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from genolm.data.loader import BatchSampler, augment_rc, complement_table, doc_ids, mask_for_mlm, step_generator
from genolm.data.shards import TOKENIZER, PreparedCorpus
from genolm.errors import GenolmError
from genolm.io.progress import progress
from genolm.model import build_model, config_for
from genolm.model.config import ModelConfig
from genolm.tokenize import SEP
from genolm.train import checkpoint, distributed
from genolm.train.args import TrainArgs
from genolm.train.losses import IGNORE, bits_per_base, clm_targets, scored_nats, token_losses
from genolm.train.optim import build_optimizer, build_scheduler, lr_factor

METRICS = "metrics.jsonl"
budget_clock = time.perf_counter  # what a --minutes run's planner reads; tests put a fake clock here


def fit(model: torch.nn.Module, optimizer, scheduler, backward: Callable[[int], object], *,
        steps: int | Callable[[], int], start: int = 0, grad_clip: float | None = 1.0,
        after_step: Callable[[int, object, torch.Tensor | None], bool | None] | None = None) -> int:
    """The one fitting loop of genolm: pretraining, fine-tuning, and the conditioned and
    forecasting models all step through it.

    For each step, ``backward(step)`` runs the forward and backward passes of that step's batch
    (all its micro-batches) and returns what the caller wants to see of its loss; the loop then
    clips the gradient norm of ``model``'s parameters to ``grad_clip``, steps the optimizer and
    the schedule, and clears the gradients.  ``after_step(done, loss, grad_norm)`` logs,
    validates, saves and may end the run early (by returning True: early stopping, Ctrl-C).
    ``steps`` may be a function, read before every step (a --minutes run re-plans its length).
    Returns the number of steps done.

    >>> w = torch.nn.Parameter(torch.tensor([3.0]))
    >>> opt = torch.optim.SGD([w], lr=0.1)
    >>> def backward(step):  # minimise w^2
    ...     loss = (w ** 2).sum()
    ...     loss.backward()
    ...     return float(loss.detach())
    >>> fit(torch.nn.ParameterList([w]), opt, torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0), backward, steps=80)
    80
    >>> abs(float(w.detach())) < 0.01
    True
    """
    step = start
    while step < (steps() if callable(steps) else steps):
        loss = backward(step)
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip) if grad_clip else None
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        if after_step is not None and after_step(step, loss, grad_norm):
            break
    return step


def train(args: TrainArgs) -> dict:
    """Run ``genolm pretrain``; return the last metrics (also in ``OUT/metrics.jsonl``)."""
    d = distributed.setup(args.device)
    ok = False
    stop = _StopOnInterrupt(enabled=not d.enabled)
    try:
        result = _train(args, d, stop)
        ok = True
        return result
    finally:
        stop.restore()
        if ok:
            distributed.teardown()
        elif d.enabled:  # an error on one rank: do not wait for the others at a barrier
            import torch.distributed as dist

            dist.destroy_process_group()


def _train(args: TrainArgs, d: distributed.Dist, stop: "_StopOnInterrupt") -> dict:
    corpus = PreparedCorpus(args.data)
    tok = corpus.tokenizer
    run = Path(args.out)
    window = args.window or corpus.manifest["window"]
    stride = corpus.manifest["stride"] if args.window in (None, corpus.manifest["window"]) else window
    saved = (checkpoint.checkpoint_dir(run) / "train_state.pt").is_file()
    resume = args.resume and saved
    if not resume and (run / METRICS).exists():
        if saved:
            raise GenolmError("run directory already holds a run", file=run,
                              hint="pass --resume to continue it, or choose a new --out")
        # A run stopped before its first checkpoint left only logs: nothing to continue, so it
        # starts again (its logs would otherwise mix two runs).
        if d.main:
            print(f"genolm pretrain: {run} holds a run stopped before its first checkpoint: "
                  f"starting it again", file=sys.stderr)
            (run / METRICS).unlink()
            shutil.rmtree(run / "tb", ignore_errors=True)
    elif args.resume and not resume and d.main:
        print(f"genolm pretrain: no checkpoint in {run}: starting a new run", file=sys.stderr)

    torch.manual_seed(args.seed)
    if resume and checkpoint.read_config(run).get("objective") != args.objective:
        raise GenolmError("--objective differs from the run being resumed", file=run,
                          expected=str(checkpoint.read_config(run).get("objective")), found=args.objective)
    init = Path(args.init) if args.init and not resume else None
    if init is not None:
        cfg = _init_config(init, args, corpus, window)
    else:
        cfg = (ModelConfig.from_dict(checkpoint.read_config(run)["model"]) if resume else
               config_for(args.model, family=args.family, vocab_size=tok.vocab_size,
                          causal=args.objective == "clm", max_len=window, **args.overrides))
    if cfg.vocab_size != tok.vocab_size:
        raise GenolmError("the checkpoint's vocabulary does not match the corpus's tokenizer",
                          expected=str(tok.vocab_size), found=str(cfg.vocab_size))
    model = build_model(cfg).to(d.device)
    if init is not None:
        checkpoint.load_weights(init, model)
    if resume:
        checkpoint.load_weights(run, model)
    # Wrap before the optimizer is built: FSDP2 replaces every parameter by its shard, and an
    # optimizer holding the old tensors would step weights the model no longer uses.
    wrapped = distributed.wrap(model, d, strategy=args.parallel, compile=args.compile)
    optimizer = build_optimizer(model, lr=args.lr, weight_decay=args.weight_decay, device=d.device)
    scheduler = build_scheduler(optimizer, warmup=args.warmup, total=args.steps, min_ratio=args.min_lr_ratio)
    start, tokens_seen, elapsed0 = 0, 0, 0.0
    best = {"val_loss": math.inf, "step": None, "val_bpb": None, "waited": 0}  # --patience: the best validation
    if resume:
        state = checkpoint.load_train_state(run)
        distributed.load_optimizer_state(model, optimizer, state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["torch_rng"])
        start, tokens_seen, elapsed0 = state["step"], state["tokens_seen"], state["elapsed"]
        best.update(state.get("best") or {})
    # Validation runs the eager model (under DDP its replicated weights): a compiled model would
    # recompile for the no-grad graph and each new batch shape, which costs more than a few
    # evaluations gain.  FSDP shards the weights, so there only the wrapped model can run.
    eval_model = wrapped if d.enabled and args.parallel == "fsdp" else distributed.unwrap(wrapped)

    micro = args.batch_size // args.grad_accum
    if micro % d.world:
        raise GenolmError("--batch-size / --grad-accum must divide evenly over the processes",
                          expected=f"a multiple of {d.world}", found=str(micro))
    sampler = BatchSampler(corpus.windows("train", window, stride, seed=args.seed), micro,
                           args.seed, d.rank, d.world)
    val = corpus.windows("val", window, stride, seed=args.seed)
    if len(val) == 0 and args.patience:
        raise GenolmError("--patience stops on the validation loss, and the corpus has no validation windows",
                          file=args.data, hint="prepare the corpus with --val-fraction above 0, or drop --patience")
    if len(val) == 0 and d.main:
        print(f"genolm pretrain: warning: {args.data} has no validation windows: no held-out bits per base "
              f"will be measured (prepare the corpus with --val-fraction above 0)", file=sys.stderr)
    table = complement_table(tok) if args.rc_augment else None
    advance = torch.as_tensor(tok.advance, dtype=torch.float64)
    dtype = torch.bfloat16 if (args.precision == "bf16" or (args.precision == "auto" and
                                                           d.device.startswith("cuda"))) else None
    log = _Logger(run, d, args, start) if d.main else None
    config = {"model": cfg.to_dict(), "objective": args.objective, "data": str(Path(args.data).resolve()),
              "window": window, "args": {k: v for k, v in vars(args).items() if k != "resume"}}
    if d.main and not resume:
        run.mkdir(parents=True, exist_ok=True)

    def save(done: int) -> None:
        state_dict = distributed.full_state_dict(wrapped)
        optimizer_state = distributed.full_optimizer_state(model, optimizer)  # every rank: FSDP gathers
        if d.main:
            checkpoint.save_checkpoint(
                run, state_dict=state_dict, config=config, tokenizer=corpus.root / TOKENIZER,
                train_state={"optimizer": optimizer_state, "scheduler": scheduler.state_dict(),
                             "torch_rng": torch.get_rng_state(), "step": done,
                             "tokens_seen": tokens_seen, "elapsed": elapsed0 + time.perf_counter() - t0,
                             "best": best},
                meta={"step": done, "tokens_seen": tokens_seen, "objective": args.objective})

    t0 = time.perf_counter()
    last = {}
    budget = _Budget(args, d, start) if args.minutes is not None and not resume else None
    if budget is not None:
        budget.provisional(scheduler)
    def backward(step: int) -> tuple[float, int]:
        """Forward and backward passes of the step's micro-batches; (summed loss, scored tokens)."""
        loss_sum, scored = 0.0, 0
        gen = step_generator(args.seed, step, d.rank)
        batches = []
        for k in range(args.grad_accum):  # micro-batch k of this step: sampler step = step*accum+k
            ids = sampler.batch(step * args.grad_accum + k)
            ids = augment_rc(ids, table, gen)
            inputs, targets = (mask_for_mlm(ids, tok, args.mask_prob, gen) if args.objective == "mlm"
                               else (ids, clm_targets(ids, tok.first_symbol_id)))
            batches.append((inputs, targets, doc_ids(ids) if bool((ids == SEP).any()) else None))
        # Normalise by the scored tokens of the whole global batch, so that accumulation and
        # DDP's gradient averaging give the same update as one big batch on one process.
        total = distributed.all_sum([float(sum(int((t != IGNORE).sum()) for _, t, _ in batches))], d)[0]
        for k, (inputs, targets, docs) in enumerate(batches):
            sync = contextlib.nullcontext() if k == len(batches) - 1 or not hasattr(wrapped, "no_sync") \
                else wrapped.no_sync()
            with sync, distributed.autocast(d.device, dtype):
                logits = wrapped(inputs.to(d.device), doc_ids=None if docs is None else docs.to(d.device))
                nats = token_losses(logits, targets.to(d.device)).sum()
                (nats * (d.world / max(total, 1.0))).backward()
            loss_sum += float(nats.detach())
            scored += int((targets != IGNORE).sum())
        return loss_sum, scored

    def after_step(done: int, loss: tuple[float, int], grad_norm) -> bool:
        """Plan (--minutes), log, validate, save; True when Ctrl-C asked the run to stop."""
        nonlocal budget, tokens_seen, last
        tokens_seen += args.batch_size * window
        # a --minutes run may end at this step: plan first, so that the last step is logged
        if budget is not None and budget.check(done, scheduler, config, log):
            budget = None
        if log is not None:
            loss = distributed.all_sum(list(loss), d)
            last = log.step(done, loss[0] / max(loss[1], 1), optimizer.param_groups[0]["lr"],
                            float(grad_norm), tokens_seen, elapsed0 + time.perf_counter() - t0)
        elif d.enabled:
            distributed.all_sum(list(loss), d)
        patient = False  # --patience: the validations since the best have run out
        if done % args.eval_every == 0 or done == args.steps:
            metrics = evaluate(eval_model, val, tok, args, d, dtype, advance)  # the same on every rank
            if log is not None and metrics:
                last.update(log.eval(done, metrics))
            if args.patience and metrics:
                if metrics["val_loss"] < best["val_loss"]:
                    best.update(val_loss=float(metrics["val_loss"]), val_bpb=float(metrics["val_bpb"]), step=done, waited=0)
                    save(done)  # the checkpoint is always the best validation's
                else:
                    best["waited"] += 1
                    patient = best["waited"] >= args.patience
                if log is not None:
                    last.update(best_step=best["step"], best_val_loss=best["val_loss"], best_val_bpb=best["val_bpb"])
                    if patient:
                        log.bar.write(f"genolm pretrain: no lower validation loss in {args.patience} validations: "
                                      f"stopping at step {done}; the checkpoint is step {best['step']}'s")
        if args.save_every and not args.patience and (done % args.save_every == 0 or done == args.steps
                                                       or stop.requested):
            save(done)
        return stop.requested or patient

    # args.steps may shrink once a --minutes run has planned its length: read before every step
    done = fit(wrapped, optimizer, scheduler, backward, steps=lambda: args.steps, start=start,
               grad_clip=args.grad_clip, after_step=after_step)
    if log is not None:
        log.close()
    if stop.requested:  # Ctrl-C: the step in flight finished, its checkpoint is saved
        if args.patience:
            print(f"genolm pretrain: stopped at step {done} of {args.steps}; the checkpoint is the best "
                  f"validation's (step {best['step']})" if best["step"] is not None else
                  f"genolm pretrain: stopped at step {done} of {args.steps}, before the first validation: no checkpoint",
                  file=sys.stderr)
        elif args.save_every:
            print(f"genolm pretrain: stopped at step {done} of {args.steps}, checkpoint saved; continue with:\n"
                  f"  genolm pretrain --data {args.data} --out {args.out} --resume", file=sys.stderr)
        else:
            print(f"genolm pretrain: stopped at step {done} of {args.steps}; no checkpoint "
                  f"(--save-every 0), so it cannot be resumed", file=sys.stderr)
        raise KeyboardInterrupt
    return last


class _StopOnInterrupt:
    """Ctrl-C (SIGINT) during training: the first one lets the step in flight finish, so the loop
    can save a checkpoint that ``--resume`` continues exactly; a second one stops at once.  Only in
    a single process (torchrun signals every rank, which would have to agree on the step)."""

    def __init__(self, enabled: bool) -> None:
        self.requested = False
        self.previous = None
        if enabled and threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("\ngenolm pretrain: interrupted: finishing this step and saving a checkpoint "
              "(Ctrl-C again to stop at once)", file=sys.stderr, flush=True)

    def restore(self) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
            self.previous = None


def _init_config(init: Path, args: TrainArgs, corpus: PreparedCorpus, window: int) -> ModelConfig:
    """The model of the run that ``--init`` continues from, checked against this corpus."""
    saved = checkpoint.read_config(init)
    if saved.get("objective") != args.objective:
        raise GenolmError("--objective differs from the --init run's", file=init,
                          expected=str(saved.get("objective")), found=args.objective)
    def vocabulary(path: Path) -> dict:  # what the token ids mean; not how unknown letters were handled
        return {k: v for k, v in json.loads(path.read_text()).items() if k != "unknown"}

    try:
        theirs = vocabulary(checkpoint.checkpoint_dir(init) / TOKENIZER)
    except (OSError, ValueError):
        raise GenolmError("the --init run's checkpoint has no readable tokenizer.json", file=init) from None
    if theirs != vocabulary(corpus.root / TOKENIZER):
        raise GenolmError("the --init run was trained with another tokenizer than this corpus's", file=init,
                          hint="prepare the corpus with the same --tokenizer and --alphabet")
    cfg = ModelConfig.from_dict(saved["model"])
    return dataclasses.replace(cfg, max_len=max(cfg.max_len, window))


class _Budget:
    """A ``--minutes`` run: time the steps after the first few (which may compile), then set the
    step count and the cosine schedule so that training ends on time; at every validation, plan
    again from the speed so far (validations included), so the schedule still ends on time if
    the run slows down, and a spent budget stops the run there.  Rank 0's clock decides for all."""

    SKIP, TIMED = 5, 15
    PROVISIONAL_WARMUP = 100  # steps: the default warmup's ramp until the first plan

    def __init__(self, args: TrainArgs, d, start: int, clock: Callable[[], float] | None = None) -> None:
        self.clock = clock or budget_clock  # tests give a fake one: no race with a busy machine
        self.args, self.d, self.start, self.t0 = args, d, start, self.clock()
        self.seconds = args.minutes * 60
        self.most = args.steps
        self.mark: float | None = None
        self.default_warmup = args.warmup == max(1, self.most // 20)
        self.warmup = args.warmup  # the warmup in force (provisional() may shorten it)

    def provisional(self, scheduler) -> None:
        """Until the first plan the step count is only --steps' upper bound, and 5% of it as
        warmup would hold the rate near zero: ramp over PROVISIONAL_WARMUP steps meanwhile."""
        if self.default_warmup:
            warmup = self.warmup = min(self.PROVISIONAL_WARMUP, self.args.warmup)
            scheduler.lr_lambdas = [functools.partial(lr_factor, warmup=warmup, total=self.most,
                                                      min_ratio=self.args.min_lr_ratio)] * len(scheduler.lr_lambdas)
            for group, lam in zip(scheduler.optimizer.param_groups, scheduler.lr_lambdas):
                group["lr"] = group["initial_lr"] * lam(scheduler.last_epoch)

    def _agree(self, value: float) -> float:
        return distributed.all_sum([value if self.d.main else 0.0], self.d)[0]

    def check(self, done: int, scheduler, config: dict, log) -> bool:
        """Called after every step; True once the run's length is final."""
        args, now = self.args, self.clock()
        first_plan = self.start + self.SKIP + self.TIMED
        if done == self.start + self.SKIP:
            self.mark = now
        if not (done == first_plan or (done > first_plan and done % args.eval_every == 0)):
            return False
        per_step = (now - self.mark) / (done - self.start - self.SKIP)
        warmup, in_warmup = self.warmup, done <= self.warmup  # the last step's rate was still ramping up
        planned = int(self._agree(done + max(0.0, self.seconds - (now - self.t0)) / per_step))
        planned = max(done, min(self.most, planned))
        if done == first_plan and self.default_warmup:  # a default warmup follows the plan
            args.warmup = max(1, planned // 20)
        args.steps = planned
        scheduler.lr_lambdas = [functools.partial(lr_factor, warmup=args.warmup, total=planned,
                                                  min_ratio=args.min_lr_ratio)] * len(scheduler.lr_lambdas)
        config["args"].update(steps=planned, warmup=args.warmup, minutes=None)
        if log is not None:
            log.bar.set_total(planned)
            if done == first_plan:
                log.bar.write(f"genolm pretrain: {per_step * 1000:.0f} ms per step: "
                              f"{planned} steps fit in {args.minutes:g} minutes")
            elif planned == done:
                log.bar.write(f"genolm pretrain: the {args.minutes:g} minutes are spent: "
                              f"stopping at step {done}")
        self.warmup = args.warmup
        if planned == done and in_warmup and self.d.main:
            # The learning rate was still ramping up: the schedule never decayed, and the model
            # is barely trained.  Say so, rather than end as if all went to plan.
            print(f"genolm pretrain: warning: the {args.minutes:g} minutes were spent by step {done}, "
                  f"inside the learning-rate warmup ({warmup} steps): the model is barely trained; "
                  f"give more --minutes (this machine ran {per_step * 1000:.0f} ms per step)", file=sys.stderr)
        return planned == done


@torch.no_grad()
def evaluate(model, val, tok, args: TrainArgs, d, dtype, advance: torch.Tensor) -> dict:
    """Validation loss (nats per scored token) and bits per base over the first
    ``eval_batches × batch_size`` windows of the validation split (the same every time)."""
    n = min(len(val), args.eval_batches * args.batch_size)
    if n == 0:
        return {}
    model.eval()
    nats = bases = count = 0.0
    mine = np.arange(d.rank, n, d.world)
    gen = torch.Generator().manual_seed(args.seed + 1_000_003)  # the same masks at every evaluation
    for lo in range(0, len(mine), args.batch_size):
        ids = torch.from_numpy(np.stack([np.asarray(val[int(i)], dtype=np.int64) for i in mine[lo: lo + args.batch_size]]))
        inputs, targets = (mask_for_mlm(ids, tok, args.mask_prob, gen) if args.objective == "mlm"
                           else (ids, clm_targets(ids, tok.first_symbol_id)))
        docs = doc_ids(ids) if bool((ids == SEP).any()) else None
        with distributed.autocast(d.device, dtype):
            logits = model(inputs.to(d.device), doc_ids=None if docs is None else docs.to(d.device))
        row_nats, row_bases = scored_nats(logits, targets.to(d.device), advance)
        nats += float(row_nats.sum())
        count += float((targets != IGNORE).sum())
        bases += float(row_bases.sum())
    model.train()
    nats, count, bases = distributed.all_sum([nats, count, bases], d)
    return {"val_loss": nats / max(count, 1), "val_bpb": bits_per_base(nats, bases), "val_tokens": int(count)}


class _Logger:
    """Rank 0's outputs: metrics.jsonl (one JSON object per line), TensorBoard, a progress bar."""

    def __init__(self, run: Path, d, args: TrainArgs, start: int) -> None:
        run.mkdir(parents=True, exist_ok=True)
        self.file = open(run / METRICS, "a")
        self.args = args
        self.tb = _tensorboard(run / "tb")
        self.bar = progress(args.steps, "pretrain", "step", initial=start, enabled=args.progress)
        self.t_last, self.tokens_last = time.perf_counter(), None

    def _write(self, record: dict) -> None:
        self.file.write(json.dumps(record) + "\n")
        self.file.flush()
        if self.tb is not None:
            for key, value in record.items():
                if key != "step" and isinstance(value, (int, float)) and math.isfinite(value):
                    self.tb.add_scalar(key, value, record["step"])

    def step(self, step: int, loss: float, lr: float, grad_norm: float, tokens: int, elapsed: float) -> dict:
        now = time.perf_counter()
        rate = None
        if self.tokens_last is not None and now > self.t_last:
            rate = (tokens - self.tokens_last) / (now - self.t_last)
        self.t_last, self.tokens_last = now, tokens
        if rate:
            self.bar.set_postfix(loss=f"{loss:.3f}", tok_s=f"{rate:,.0f}")
        self.bar.update(1)
        record = {"step": step, "loss": loss, "lr": lr, "grad_norm": grad_norm, "tokens": tokens,
                  "elapsed_s": round(elapsed, 3)}
        if rate:
            record["tokens_per_s"] = rate
        if torch.cuda.is_available() and torch.cuda.is_initialized():  # this process's peak so far
            record["max_memory_gb"] = round(torch.cuda.max_memory_allocated() / 1e9, 3)
        if step % self.args.log_every == 0 or step == self.args.steps:
            self._write(record)
        return record

    def eval(self, step: int, metrics: dict) -> dict:
        record = {"step": step, **metrics}
        self._write(record)
        self.bar.write(f"step {step}: val_loss {metrics['val_loss']:.4f}, val_bpb {metrics['val_bpb']:.4f}",
                       file=sys.stdout)
        return metrics

    def close(self) -> None:
        self.bar.close()
        self.file.close()
        if self.tb is not None:
            self.tb.close()


def _tensorboard(path: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard not installed: metrics.jsonl still has everything
        return None
    return SummaryWriter(str(path))
