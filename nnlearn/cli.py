"""The command line: parse options, call one library function, print. No logic lives here.

Exit codes (every command): 0 ok; 2 bad input or usage (one ``Error: ...`` line, maybe one hint
line); 3 training diverged; 4 gradcheck failed; 130 interrupted (Ctrl-C), 143 stopped
by SIGTERM (both keep a checkpoint); 1 a bug in nnlearn.

numpy is imported lazily inside the commands, so ``nnlearn --help`` stays fast.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import click

from nnlearn import __version__
from nnlearn.errors import NnlearnError

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


# ------------------------------------------------------------------------------------------
# errors -> exit codes


def _fail(message: str, code: int, hint: str | None = None) -> None:
    click.echo(f"Error: {message}", err=True)
    if hint:
        click.echo(hint, err=True)
    sys.exit(code)


_TERMINATED: list[int] = []  # the SIGTERM received, if one was


def _terminate(signum: int, frame: Any) -> None:
    _TERMINATED.append(signum)
    raise KeyboardInterrupt


class Group(click.Group):
    """Runs a command and maps every outcome to the exit-code contract."""

    def main(self, args=None, prog_name=None, **kwargs):  # type: ignore[override]
        # SIGTERM (kill, timeout, a batch scheduler's time limit) stops a command the way
        # Ctrl-C does -- a training run saves its checkpoint -- and exits 128 + 15; the
        # handler is the command's only, and the previous one is put back after it
        if threading.current_thread() is not threading.main_thread():
            return self._main(args, prog_name, **kwargs)
        _TERMINATED.clear()
        previous = signal.signal(signal.SIGTERM, _terminate)
        try:
            return self._main(args, prog_name, **kwargs)
        finally:
            signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)

    def _main(self, args, prog_name, **kwargs):
        try:
            rv = super().main(args=args, prog_name=prog_name or "nnlearn",
                              standalone_mode=False, **kwargs)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except click.UsageError as exc:
            ctx = exc.ctx
            hint = f"Try '{ctx.command_path} --help'." if ctx is not None else None
            if isinstance(exc, click.NoSuchOption) and ctx is not None and any(
                    p.name == "overrides" for p in ctx.command.params):
                from nnlearn.runs.config import key_for_option

                key = key_for_option(exc.option_name)
                if key is not None:  # `train --epochs 5`: a config key, not an option
                    # click's nearest option stays unless it is --help (`--lr`)
                    exc.possibilities = [p for p in exc.possibilities if p != "--help"]
                    hint = f"config keys are set with --set, e.g. --set {key}=..."
            if isinstance(exc, getattr(click.exceptions, "NoArgsIsHelpError", ())):
                # bare `nnlearn` (click >= 8.2): the help on stdout, one error line on stderr
                click.echo(ctx.get_help())
                _fail("missing command", 2, hint)
            _fail(exc.format_message(), 2, hint)
        except click.ClickException as exc:  # e.g. a file option that does not exist
            _fail(exc.format_message(), 2)
        except (KeyboardInterrupt, click.exceptions.Abort):
            click.echo("Terminated." if _TERMINATED else "Interrupted.", err=True)
            sys.exit(143 if _TERMINATED else 130)
        except NnlearnError as exc:
            from nnlearn.errors import TrainingInterrupted

            if isinstance(exc, TrainingInterrupted):
                text = str(exc)  # "interrupted after ..." already says what happened
                click.echo(text[:1].upper() + text[1:], err=True)
                if exc.hint:
                    click.echo(exc.hint, err=True)
                sys.exit(143 if _TERMINATED else exc.exit_code)
            _fail(str(exc), exc.exit_code, exc.hint)
        except OSError as exc:  # the machine said no: permissions, disk full, ...
            where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
            _fail(f"{where}{exc.strerror or exc}", 2)
        except Exception as exc:
            if os.environ.get("NNLEARN_DEBUG"):
                raise
            from nnlearn.runs.plugins import loaded_paths, raised_in_plugin

            where = raised_in_plugin(exc)
            if where is not None:  # the user's own code: say where, as for any input error
                _fail(f"{where}: {type(exc).__name__}: {exc}", 2,
                      "an error in the plugin's code (--plugin); fix it there and rerun")
            plugins = loaded_paths()
            _fail(f"internal error: {type(exc).__name__}: {exc}", 1,
                  f"If it comes from a plugin ({', '.join(plugins)}), check what its forward "
                  "and backward return; else this is a bug in nnlearn." if plugins else
                  "This is a bug in nnlearn. Rerun with NNLEARN_DEBUG=1 to see the traceback.")
        sys.exit(rv if isinstance(rv, int) else 0)


@click.group(cls=Group, context_settings=CONTEXT)
@click.version_option(__version__, prog_name="nnlearn")
def cli() -> None:
    """nnlearn: train multi-layer perceptrons on CSV data, and watch backprop and SGD work.

    \b
    Example:
        nnlearn train configs/iris.yaml
        nnlearn eval runs/iris
        nnlearn predict runs/iris --data data/iris-test.csv
    """


def main() -> None:
    cli.main()


def _print_json(obj: Any) -> None:
    click.echo(json.dumps(_finite_or_null(obj), indent=2, default=float, allow_nan=False))


def _finite_or_null(obj: Any) -> Any:
    """NaN and infinities as null: --json output must parse as JSON."""
    if isinstance(obj, float):
        import math

        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite_or_null(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite_or_null(v) for v in obj]
    return obj


def _finite_float(ctx, param, value):
    """A click callback: refuse nan and inf, which FloatRange lets through."""
    import math

    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f"{value} is not a finite number")
    return value


def _load_config(config: str, overrides: tuple[str, ...]) -> dict:
    from nnlearn.runs.config import load_config

    return load_config(config, overrides)


def _load_plugins(ctx: click.Context, param: click.Parameter, paths: tuple[str, ...]) -> None:
    """--plugin: run each file before the command reads any config or model (the library
    loads them; see nnlearn/runs/plugins.py)."""
    if paths:
        from nnlearn.runs.plugins import load_plugins

        load_plugins(paths)


#: ``--plugin FILE.py`` (repeatable), on every command that reads a config or a model
_PLUGIN = click.option("--plugin", "plugins", multiple=True, metavar="FILE.py",
                       type=click.Path(dir_okay=False), expose_value=False,
                       callback=_load_plugins,
                       help="Load your own activation, layer, loss or optimizer from a Python "
                            "file (repeatable; see docs/plugins.md).")


def _apply_threads(threads: int | None) -> None:
    from nnlearn.runs.threads import set_blas_threads

    set_blas_threads(threads)


# ------------------------------------------------------------------------------------------
# train


#: Progress-bar names of the history columns, shortest that stay clear, in display order.
BAR_NAMES = {"train_loss": "loss", "train_accuracy": "acc", "train_r2": "r2",
             "val_loss": "vloss", "val_accuracy": "vacc", "val_r2": "vr2"}
#: Which bar metrics go first when the terminal is too narrow for all of them.
_DROP_ORDER = ("train_accuracy", "train_r2", "val_accuracy", "val_r2", "train_loss", "val_loss")
#: A bar narrower than this says nothing; the elapsed/remaining time goes before it does.
_MIN_BAR = 10
#: Room the time field takes, e.g. ``00:01<00:03`` (longer runs: ``1:02:03<0:04:05``).
_TIME_WIDTH = 15


def bar_layout(width: int, total: int, logs: dict[str, float]) -> tuple[str, str]:
    """A tqdm ``bar_format`` (and the metrics text in it) that fits ``width`` columns: the epoch
    count, a bar
    of at least 10 cells, the time and the metrics (short names, 4 significant digits); when the
    terminal is narrower the time goes first, then the metrics one by one, then the bar."""
    shown = [k for k in BAR_NAMES if k in logs]
    count = len(f"{total}/{total}")

    def text(keys: list[str]) -> str:
        return " ".join(f"{BAR_NAMES[k]}={logs[k]:.4g}" for k in keys)

    def layout(with_time: bool, keys: list[str]) -> tuple[str, str] | None:
        post = text(keys)
        used = count + 4 + (_TIME_WIDTH + 1 if with_time else 0) + len(post)
        if width - used < _MIN_BAR and (with_time or keys):
            return None
        when = " {elapsed}<{remaining}" if with_time else ""
        return "{n_fmt}/{total_fmt} |{bar}|" + when + (" " + post if post else ""), post

    found = layout(True, shown)
    keys = list(shown)
    while found is None:
        found = layout(False, keys)
        if found is None:
            keys.remove(next(k for k in _DROP_ORDER if k in keys))
    return found


def default_log_every(total: int) -> int:
    """Every how many epochs a progress line is printed: the smallest of 1, 2, 5, 10, 20, 50,
    ... that gives at most 15 lines (so a run prints about 6 to 15, Keras' verbose=2 habit)."""
    step = 1
    while True:
        for k in (1, 2, 5):
            if -(-max(total, 1) // (k * step)) <= 15:
                return k * step
        step *= 10


class _Progress:
    """Epoch progress on stderr: a line that stays on screen every ``log_every`` epochs (and for
    the first and the last epoch), and on a terminal a live tqdm bar under them."""

    def __init__(self, total: int, quiet: bool, *, log_every: int | None = None,
                 stream=None, bar: bool | None = None, width: int | None = None) -> None:
        self.total, self.quiet = total, quiet
        self.log_every = log_every or default_log_every(total)
        self.stream = stream
        self.use_bar = bar
        self.width = width  # fixed width (tests); None: the terminal's, read at every update
        self.bar = None
        self.first = True

    def _stream(self):
        return self.stream if self.stream is not None else sys.stderr

    def callback(self):
        from nnlearn.nn.training import Callback

        progress = self

        class ProgressCallback(Callback):
            def on_train_begin(self, trainer):
                progress.start(trainer.epoch)

            def on_epoch_end(self, trainer, logs):
                # the trainer's callbacks (early stopping) have run: stop_reason says if this
                # epoch is the last one
                progress.update(logs, last=trainer.stop_reason is not None)

            def on_train_end(self, trainer):
                progress.close()

        return ProgressCallback()

    def start(self, done: int) -> None:
        if self.quiet:
            return
        stream = self._stream()
        use_bar = self.use_bar if self.use_bar is not None else stream.isatty()
        if use_bar:
            from tqdm import tqdm

            self.bar = tqdm(total=self.total, initial=done, unit="epoch", file=stream,
                            ncols=self._width(), leave=False,
                            bar_format="{n_fmt}/{total_fmt} |{bar}|")

    def _width(self) -> int:
        if self.width is not None:
            return self.width
        import shutil

        return shutil.get_terminal_size((80, 24)).columns

    def update(self, logs: dict[str, float], *, last: bool = False) -> None:
        if self.quiet:
            return
        epoch = int(logs["epoch"])
        if self.first or last or epoch == self.total or epoch % self.log_every == 0:
            self.first = False
            line = format_epoch_line(logs, self.total)
            if self.bar is not None and len(line) > self._width():
                line = format_epoch_line(logs, self.total, short=True)
            self._line(line)
        if self.bar is not None:
            width = self._width()
            self.bar.ncols, self.bar.bar_format = width, bar_layout(width, self.total, logs)[0]
            self.bar.update(1)

    def _line(self, text: str) -> None:
        if self.bar is not None:
            self.bar.write(text, file=self._stream())
        else:
            click.echo(text, file=self._stream())

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def format_epoch_line(logs: dict[str, float], total: int, *, short: bool = False) -> str:
    """``epoch 10/150 train_loss=0.1234 val_loss=0.2345 val_accuracy=0.9583`` (``short``: the
    bar's names, ``loss=0.1234 vloss=0.2345 vacc=0.9583``, for a narrow terminal)."""
    text = " ".join(f"{BAR_NAMES[k] if short else k}={logs[k]:.4g}"
                    for k in BAR_NAMES if k in logs)
    return f"epoch {int(logs['epoch'])}/{total} {text}"


def _summary_lines(result) -> list[str]:
    lines = [f"stopped: {result.stopped}"]
    for split in ("train", "val", "test"):
        m = result.metrics.get(split)
        if not m:
            continue
        if "accuracy" in m:
            lines.append(f"{split:5s} loss {m['loss']:.4f}  accuracy {m['accuracy']:.4f}")
        else:
            lines.append(f"{split:5s} loss {m['loss']:.4f}  rmse {m['rmse']:.4g}  r2 {m['r2']:.4f}")
    return lines


@cli.command(context_settings=CONTEXT)
@click.argument("config", required=False, type=click.Path(dir_okay=False))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a config key, e.g. --set training.learning_rate=0.1 (repeatable).")
@click.option("--out", type=click.Path(file_okay=False), help="Run folder (must be new or empty).")
@click.option("--resume", "resume_dir", type=click.Path(file_okay=False),
              help="Continue an interrupted run from its checkpoint, exactly.")
@click.option("--init-from", type=click.Path(), help="Start from a saved model's weights "
              "(a run folder or model file); optimizer state starts fresh.")
@click.option("--threads", type=click.IntRange(min=1, max=4096), default=None,
              help="BLAS threads (default: training.threads, else $NNLEARN_THREADS, else the BLAS "
                   "library's own choice).")
@click.option("--diagnostics", is_flag=True, help="Write diagnostics.csv (gradient norms, ...).")
@click.option("--snapshots", type=click.IntRange(min=0), default=None, metavar="N",
              help="Keep the weights at N evenly spaced epochs (snapshots.npz), for nnlearn "
                   "report; same as --set training.snapshots=N.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@click.option("--log-every", type=click.IntRange(min=1), default=None, metavar="N",
              help="Print a progress line every N epochs (default: about 10 lines per run); "
                   "the first and the last epoch always get one.")
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
@_PLUGIN
def train(config, overrides, out, resume_dir, init_from, threads, diagnostics, snapshots,
          as_json, log_every, quiet):
    """Train the network a CONFIG file describes and write a run folder.

    Prints the run folder's path as the last line (or, with --json, a JSON object holding it).

    \b
    Example:
        nnlearn train configs/iris.yaml
        nnlearn train configs/iris.yaml --set training.learning_rate=0.1 --set seed=3
        nnlearn train --resume runs/iris
        nnlearn train configs/spirals.yaml --snapshots 20 && nnlearn report runs/spirals
        nnlearn train configs/moons.yaml --plugin swish.py --set model.activation=swish
    """
    if resume_dir and (config or overrides or init_from or out or diagnostics
                       or snapshots is not None):
        raise click.UsageError("--resume takes only the run folder (no CONFIG, --set, --out, "
                               "--init-from, --diagnostics, --snapshots): it continues the run "
                               "as configured")
    if not resume_dir and not config:
        raise click.UsageError("missing argument CONFIG (or use --resume RUN_DIR)")
    if resume_dir:
        cfg = _load_config(str(Path(resume_dir) / "config.yaml"), ()) if (
            Path(resume_dir) / "config.yaml").is_file() else None
    else:
        extra = ("training.diagnostics=true",) if diagnostics else ()
        if snapshots is not None:
            extra += (f"training.snapshots={snapshots}",)
        cfg = _load_config(config, overrides + extra)
    _apply_threads(threads if threads else (cfg or {}).get("training", {}).get("threads"))

    from nnlearn.runs import run as runs

    epochs = cfg["training"]["epochs"] if cfg else 0
    progress = _Progress(epochs, quiet or as_json, log_every=log_every)
    try:
        if resume_dir:
            result = runs.resume(resume_dir, callbacks=[progress.callback()])
        else:
            from nnlearn.runs.config import errors_located

            with errors_located(config, overrides + extra):
                result = runs.train(cfg, config_path=config, out=out, init_from=init_from,
                                    callbacks=[progress.callback()])
    finally:
        progress.close()
    from nnlearn.errors import shown_path
    from nnlearn.runs.advice import run_warnings

    # training.diagnostics / --diagnostics, then what the curves say
    for warning in [*result.warnings, *run_warnings(result.history, result.metrics)]:
        click.echo(f"warning: {warning}", err=True)
    if as_json:
        _print_json({"run_dir": str(result.run_dir), "epochs": result.epochs,
                     "stopped": result.stopped, "metrics": result.metrics})
        return
    if not quiet:
        for line in _summary_lines(result):
            click.echo(line)
        from nnlearn.plots.text import loss_sparklines  # the loss curves at a glance

        restored = result.metrics.get("restored_epoch")
        for line in loss_sparklines(result.history, ascii=not _unicode_ok(sys.stdout),
                                    restored_epoch=restored):
            click.echo(line)
    click.echo(shown_path(result.run_dir))


# ------------------------------------------------------------------------------------------
# eval and predict


def _format_table(header: list[str], rows: list[list[Any]]) -> str:
    cells = [[str(h) for h in header]] + [[f"{c:.4f}" if isinstance(c, float) else str(c)
                                           for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths)))
             for r in cells]
    return "\n".join(lines)


def format_eval(m: dict[str, Any], *, scaled_target: bool = False) -> str:
    if "accuracy" not in m:
        # the loss is what training minimised: on the standardised target, when it was scaled
        scaled = "  (of the standardised target)" if scaled_target else ""
        return "\n".join([f"samples   {m['n']}", f"loss      {m['loss']:.6g}{scaled}",
                          f"MSE       {m['mse']:.6g}", f"RMSE      {m['rmse']:.6g}",
                          f"MAE       {m['mae']:.6g}", f"R2        {m['r2']:.6f}"])
    classes = m["classes"]
    per = [[c, v["precision"], v["recall"], v["f1"], v["support"]]
           for c, v in m["per_class"].items()]
    cm_rows = [[f"true {c}", *row] for c, row in zip(classes, m["confusion_matrix"])]
    return "\n".join([
        f"samples   {m['n']}", f"loss      {m['loss']:.6g}", f"accuracy  {m['accuracy']:.6f}",
        f"macro F1  {m['f1_macro']:.6f}", "",
        _format_table(["class", "precision", "recall", "f1", "support"], per), "",
        "confusion matrix (rows: true class, columns: predicted)",
        _format_table(["", *[f"pred {c}" for c in classes]], cm_rows),
    ])


def _data_for(model, cfg, data: str | None, *, target_required: bool):
    from nnlearn.data import read_csv

    if data is None:
        test = (cfg or {}).get("data", {}).get("test")
        if not test:
            raise NnlearnError("no --data given and the run's config names no data.test file"
                               if cfg else "no --data given (a model file has no data.test)",
                               hint="pass --data CSV")
        data = test
    return read_csv(data, target=model.target, target_required=target_required,
                    **model.read_options())


@cli.command("eval", context_settings=CONTEXT)
@click.argument("run", type=click.Path(exists=True))
@click.option("--data", type=click.Path(), help="CSV to evaluate on (default: the config's test file).")
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
@_PLUGIN
def eval_cmd(run, data, as_json):
    """Evaluate a trained model (RUN folder or model file) on labelled data.

    Classification: loss, accuracy, per-class precision/recall/F1 and the confusion matrix.
    Regression: MSE, RMSE, MAE and R².

    \b
    Example:
        nnlearn eval runs/iris
        nnlearn eval runs/iris/model.npz --data data/iris-test.csv --json
    """
    from nnlearn.runs import run as runs

    model, cfg = runs.load_run(run)
    table = _data_for(model, cfg, data, target_required=True)
    metrics = runs.evaluate(model, table)
    if as_json:
        _print_json(metrics)
    else:
        from nnlearn.errors import shown_path

        click.echo(shown_path(table.path))
        click.echo(format_eval(metrics, scaled_target=model.target_scaler is not None))


@cli.command(context_settings=CONTEXT)
@click.argument("run", type=click.Path(exists=True))
@click.option("--data", required=True, type=click.Path(), help="CSV with the feature columns.")
@click.option("--out", type=click.Path(dir_okay=False), help="Write the CSV here (default: stdout).")
@click.option("--proba", is_flag=True, help="Add one probability column per class.")
@click.option("--keep", "keep", multiple=True, metavar="COL[,COL...]",
              help="Copy these columns of --data (an id, a name) into the output, first, "
                   "in the input's row order.")
@_PLUGIN
def predict(run, data, out, proba, keep):
    """Predict for every row of a CSV (the target column may be absent).

    \b
    Example:
        nnlearn predict runs/iris --data data/iris-test.csv --proba --out predictions.csv
        nnlearn predict runs/iris --data data/iris-test.csv --keep species
    """
    import csv
    import io

    from nnlearn.runs import atomicio
    from nnlearn.runs import run as runs
    from nnlearn.runs.safeio import check_not_input

    check_not_input(out, [data, *runs.run_inputs(run)])
    model, cfg = runs.load_run(run)
    table = _data_for(model, cfg, data, target_required=False)
    check_not_input(out, [table.path])
    header, rows = runs.predict_rows(model, table, proba=proba)
    kept = [c.strip() for item in keep for c in item.split(",") if c.strip()]
    if kept:
        from nnlearn.data.reader import read_columns

        clash = [c for c in kept if c in header] or [c for c in kept if kept.count(c) > 1]
        if clash:
            raise click.UsageError(f"--keep {clash[0]}: the output would have two columns "
                                   "of that name")
        header = [*kept, *header]
        rows = [[*ids, *r] for ids, r in zip(read_columns(table.path, kept, table.lines), rows)]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([[repr(c) if isinstance(c, float) else c for c in r] for r in rows])
    if out:
        atomicio.write_text(out, buf.getvalue())
    else:
        click.echo(buf.getvalue(), nl=False)


# ------------------------------------------------------------------------------------------
# config


@cli.group(context_settings=CONTEXT)
def config() -> None:
    """Inspect configs: `config show` prints a config with every value a run will use.

    \b
    Example:
        nnlearn config show configs/iris.yaml --set training.epochs=50
    """


@config.command("show", context_settings=CONTEXT)
@click.argument("config_file", metavar="CONFIG", type=click.Path(dir_okay=False))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a key.")
@_PLUGIN
def config_show(config_file, overrides):
    """Print the fully resolved CONFIG, every default filled in.

    Values the run decides (task, loss, init, batching: `auto`) are shown as what it will use,
    with a comment saying where they came from; the task is read off the training data.

    \b
    Example:
        nnlearn config show configs/iris.yaml --set training.optimizer=adam
    """
    from nnlearn.runs.run import input_summary
    from nnlearn.runs.show import show_config

    cfg = _load_config(config_file, overrides)
    click.echo(show_config(cfg), nl=False)
    if cfg["data"].get("categorical"):  # otherwise the inputs are the feature columns
        try:
            inputs = input_summary(cfg)
        except NnlearnError as exc:  # the config is still worth showing without its data
            inputs = f"not known until data.train can be read ({exc})"
        click.echo(f"# inputs: {inputs}")


# ------------------------------------------------------------------------------------------
# teaching: summary, gradcheck, explain

_SET = click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
                    help="Override a config key (repeatable).")


@cli.command(context_settings=CONTEXT)
@click.argument("config", type=click.Path(dir_okay=False))
@_SET
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@_PLUGIN
def summary(config, overrides, as_json):
    """Layers, parameter counts and FLOPs per sample of the network a CONFIG builds.

    FLOPs count a multiply and an add as 1 each; the convention is printed under the table.

    \b
    Example:
        nnlearn summary configs/digits.yaml
        nnlearn summary configs/iris.yaml --set model.hidden=[32,32] --json
    """
    from nnlearn.runs import run as runs
    from nnlearn.runs.config import errors_located
    from nnlearn.teach.summary import format_summary, summarize

    with errors_located(config, overrides):
        p = runs.prepare(_load_config(config, overrides))
    result = summarize(p.model.network, p.model.loss_name,
                       inputs=p.model.encoding.describe() if p.model.encoding is not None
                       and p.model.encoding.encodes else None)
    if as_json:
        _print_json(result.to_dict())
    else:
        click.echo(format_summary(result))


@cli.command(context_settings=CONTEXT)
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--samples", type=click.IntRange(min=1), default=8, show_default=True,
              help="Training rows (seeded choice) the loss is averaged over.")
@click.option("--eps", type=click.FloatRange(min=0, max=1, min_open=True), default=1e-6,
              show_default=True, callback=_finite_float, help="Finite-difference step.")
@_SET
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@_PLUGIN
def gradcheck(config, samples, eps, overrides, as_json):
    """Check backprop against central finite differences, tensor by tensor.

    Builds the CONFIG's network on its training data in float64 (dropout off) and compares
    dL/d(every weight, bias and the input) with (L(w+eps) - L(w-eps)) / 2eps. Tensors with more
    than 200 entries are checked on a seeded random 200. Exit 0 when every tensor passes, 4 when
    any fails (the error names it).

    \b
    Example:
        nnlearn gradcheck configs/xor.yaml
        nnlearn gradcheck configs/digits.yaml --samples 16 --json
    """
    from nnlearn.runs.config import errors_located
    from nnlearn.teach.gradcheck import check_config, format_report, raise_if_failed

    with errors_located(config, overrides):
        report = check_config(_load_config(config, overrides), samples=samples, eps=eps)
    if as_json:
        _print_json(report.to_dict())
    else:
        click.echo(format_report(report))
    raise_if_failed(report)


@cli.command(context_settings=CONTEXT)
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--sample", type=click.IntRange(min=0), default=None,
              help="Explain a step on this one training row (stochastic gradient descent).")
@click.option("--batch", type=click.IntRange(min=1), default=None,
              help="Explain a step on the first N rows of epoch 1's order.")
@click.option("--weights", "n_weights", type=click.IntRange(min=1), default=3,
              show_default=True, help="How many weights' updates to spell out.")
@_SET
@_PLUGIN
def explain(config, sample, batch, n_weights, overrides):
    """Walk one real training step layer by layer, with the numbers training uses.

    Forward (z = x·W + b, a = f(z)), the loss, backward last layer first (dL/da, f'(z),
    dL/dz, dL/dW = xᵀ·dL/dz, dL/db, dL/dx), the update of a few weights with real numbers,
    and the loss on the same rows before and after. Without --sample or --batch it explains
    the very first step `nnlearn train` takes. Small arrays are shown in full, large ones as
    statistics.

    \b
    Example:
        nnlearn explain configs/xor.yaml
        nnlearn explain configs/iris.yaml --sample 0 --weights 5
    """
    if sample is not None and batch is not None:
        raise click.UsageError("give --sample or --batch, not both")
    from nnlearn.runs import run as runs
    from nnlearn.runs.config import errors_located
    from nnlearn.teach.explain import explain_step, format_explanation

    with errors_located(config, overrides):
        p = runs.prepare(_load_config(config, overrides))
        explanation = explain_step(p, sample=sample, batch=batch, n_weights=n_weights)
    click.echo(format_explanation(explanation))


# ------------------------------------------------------------------------------------------
# graded exercises


@cli.group(context_settings=CONTEXT)
def exercise() -> None:
    """Graded exercises: write a backward (or a step) and have it checked.

    \b
    Example:
        nnlearn exercise list
        nnlearn exercise check 1
    """


@exercise.command("list", context_settings=CONTEXT)
def exercise_list():
    """List the exercises and the file each one is written in.

    \b
    Example:
        nnlearn exercise list
    """
    from nnlearn.teach.exercises import list_exercises

    for e in list_exercises():
        article = "an" if e["implements"][0] in "aeiou" else "a"
        click.echo(f"{e['number']}  {e['file']:28s} {e['title']} ({article} {e['implements']})")


@exercise.command("check", context_settings=CONTEXT)
@click.argument("number", metavar="N", type=int)
@click.argument("file", metavar="[FILE]", required=False, type=click.Path(dir_okay=False))
def exercise_check(number, file):
    """Check exercise N in FILE (default: exercises/0N_*.py here), part by part.

    Loads FILE as a plugin, compares its backward (or step) with finite differences or the
    formula, checks a small network with it and trains it briefly. Prints PASS, FAIL or SKIP
    per part with a hint for each failure. Exit 0 when every part passes, 4 when one fails.

    \b
    Example:
        nnlearn exercise check 1
        nnlearn exercise check 2 my-dense.py
    """
    from nnlearn.teach.exercises import check_exercise, format_result, raise_if_failed

    result = check_exercise(number, file)
    click.echo(format_result(result))
    raise_if_failed(result)


# ------------------------------------------------------------------------------------------
# batch runs: sweep, compare


@cli.command("sweep", context_settings=CONTEXT)
@click.argument("sweep_file", metavar="SWEEP.yaml", type=click.Path(dir_okay=False))
@click.option("--workers", type=click.IntRange(min=1, max=4096), default=None,
              help="Worker processes (default: the number of cores).")
@click.option("--threads", type=click.IntRange(min=1, max=4096), default=1, show_default=True,
              help="BLAS threads per worker process.")
@click.option("--out", type=click.Path(file_okay=False),
              help="Sweep folder (default: runs/sweeps/<name of SWEEP.yaml>).")
@click.option("--retry-failed", is_flag=True, help="Run failed runs again (default: keep them).")
@click.option("--scheduler", metavar="tcp://HOST:PORT",
              help="Send the runs to this Dask scheduler (pip install 'nnlearn[dask]').")
@click.option("--connect-timeout", type=click.FloatRange(min=0, max=3600, min_open=True),
              default=5.0, show_default=True, callback=_finite_float,
              help="Seconds to wait for the --scheduler to answer.")
@click.option("--print-commands", is_flag=True,
              help="Run nothing; print one 'nnlearn train' command per run (for Slurm, GNU "
                   "parallel); then 'nnlearn sweep --out' the same folder collects the results.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@click.option("--quiet", "-q", is_flag=True, help="No progress lines.")
@_PLUGIN
def sweep_cmd(sweep_file, workers, threads, out, retry_failed, scheduler, connect_timeout,
              print_commands, as_json, quiet):
    """Train every variant of a SWEEP.yaml file, over its seeds, in parallel.

    Writes one run folder per run and results.csv under the sweep folder, and prints a table
    sorted by the sweep's metric (mean ± std over seeds). Running it again skips finished runs.
    Exit code 0 when every run is ok, 5 when any run failed (see results.csv), 2 for a bad
    sweep file (nothing runs).

    \b
    Example:
        nnlearn sweep configs/sweeps/learning-rate.yaml --workers 2
        nnlearn sweep configs/sweeps/batching.yaml --out runs/batching --json
        nnlearn sweep my-sweep.yaml --scheduler tcp://10.0.0.5:8786
        nnlearn sweep my-sweep.yaml --print-commands --out runs/big | parallel -j 8
    """
    if scheduler is not None and not scheduler.strip():
        raise click.UsageError("--scheduler needs an address such as tcp://HOST:8786")
    if scheduler and workers:
        raise click.UsageError("--workers is for local runs; with --scheduler the cluster's "
                               "workers run them")
    from nnlearn.runs.plugins import loaded_paths
    from nnlearn.sweeps import sweep as sw

    spec = sw.load_sweep(sweep_file)
    out = out or sw.default_out(sweep_file)
    if print_commands:
        import shlex

        for run in spec.runs:
            click.echo(shlex.join(sw.train_command(spec, run, out, loaded_paths())))
        return 0
    show = None if (quiet or as_json) else (
        lambda rec, done, total: click.echo(sw.format_record(rec, done, total, spec.metric),
                                            err=True))
    with (sw.dask_executor(scheduler, timeout=connect_timeout) if scheduler
          else _no_executor()) as executor:
        result = sw.run_sweep(spec, out, executor=executor,
                              workers=workers, blas_threads=threads,
                              retry_failed=retry_failed, on_record=show,
                              plugins=loaded_paths())
    if as_json:
        _print_json(result.to_dict())
    else:
        click.echo(sw.format_summary(result))
    return sw.EXIT_RUNS_FAILED if result.failed else 0


def _no_executor():
    import contextlib

    return contextlib.nullcontext(None)


@cli.command("compare", context_settings=CONTEXT)
@click.argument("runs_", metavar="RUN_A RUN_B [RUN...]", nargs=-1, required=True,
                type=click.Path(exists=True, file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
def compare_cmd(runs_, as_json):
    """Show the config keys and the metrics in which two or more run folders differ.

    \b
    Example:
        nnlearn compare runs/iris runs/iris-2
        nnlearn compare runs/sweeps/learning-rate/lr0.01-* --json
    """
    if len(runs_) < 2:
        raise click.UsageError("give at least two run folders to compare")
    from nnlearn.sweeps.compare import compare_runs, format_comparison

    comparison = compare_runs(runs_)
    if as_json:
        _print_json(comparison.to_dict())
    else:
        click.echo(format_comparison(comparison))


# ------------------------------------------------------------------------------------------
# the bundled lessons


@cli.command(context_settings=CONTEXT)
@click.argument("folder", required=False, type=click.Path(file_okay=False))
@click.option("--list", "list_only", is_flag=True, help="Name each lesson and what it teaches.")
def examples(folder, list_only):
    """Write the bundled lessons (configs, their data, sweeps, exercises) into a new FOLDER.

    The folder gets configs/, data/ and exercises/ as the docs use them, so that after
    `cd FOLDER` every command of the README and the tutorial runs as written. For an installed
    nnlearn (pip or pipx) that has no clone of the repository.

    \b
    Example:
        nnlearn examples lessons && cd lessons && nnlearn train configs/iris.yaml
        nnlearn examples --list
    """
    from nnlearn import lessons

    if list_only:
        if folder:
            raise click.UsageError("--list takes no FOLDER")
        found = lessons.list_lessons()
        width = max(len(lesson.path) for lesson in found)
        click.echo("\n".join(f"{lesson.path:{width}s}  {lesson.teaches}" for lesson in found))
        return
    if not folder:
        raise click.UsageError("missing argument FOLDER (or use --list)")
    copied = lessons.copy_lessons(folder)
    tops = sorted({f.split("/", 1)[0] + "/" for f in copied.files})
    click.echo(f"wrote {len(copied.files)} files into {copied.folder}: {', '.join(tops)}")
    click.echo(f"next: {copied.next_command()}")


# ------------------------------------------------------------------------------------------
# pictures: plot


def _unicode_ok(stream) -> bool:
    """Can ``stream`` print block characters? (Not on some Windows code pages.)"""
    try:
        "▁█→".encode(getattr(stream, "encoding", None) or "ascii")
        return True
    except (UnicodeEncodeError, LookupError):
        return False


def _check_suffix(out: str | None, suffix: str, what: str) -> None:
    """Refuse an -o whose name promises another format than the one written."""
    if out is not None and Path(out).suffix.lower() != suffix:
        raise click.UsageError(f"-o {out}: {what}; give a file name ending in {suffix}")


@cli.command(context_settings=CONTEXT)
@click.argument("run_dirs", metavar="RUN_DIR...", nargs=-1, required=True,
                type=click.Path(exists=True))
@click.option("-o", "--out", type=click.Path(dir_okay=False),
              help="PNG to write (default: curves.png, boundary.png, confusion.png, roc.png or "
                   "residuals.png in the run folder; for several runs, in the folder that "
                   "holds them all).")
@click.option("--metric", help="Second panel of the curves: accuracy, r2, rmse, lr, ... "
                               "(default: accuracy or r2).")
@click.option("--boundary", is_flag=True,
              help="Decision regions with the training points (a classifier with two numeric "
                   "inputs).")
@click.option("--confusion", is_flag=True, help="Confusion-matrix heatmap on the test data.")
@click.option("--roc", is_flag=True,
              help="ROC and precision-recall curves with their areas (two classes), test data.")
@click.option("--residuals", is_flag=True,
              help="Predicted vs actual and residual plots (regression), test data.")
@click.option("--data", type=click.Path(dir_okay=False),
              help="CSV for --boundary/--confusion/--roc/--residuals (default: the config's "
                   "train/test file).")
@click.option("--text", is_flag=True, help="Draw in the terminal instead (needs no matplotlib).")
@click.option("--animate", is_flag=True, help="With --boundary: an animated GIF of the decision "
              "regions at every snapshot (train with --snapshots N); default learn.gif.")
@_PLUGIN
def plot(run_dirs, out, metric, boundary, confusion, roc, residuals, data, text, animate):
    """Draw a run's learning curves (train and val loss and metric) as a PNG.

    Several runs, or a sweep folder (a folder of run folders), are overlaid; the legend, below
    the panels, names what differs between their configs, and runs that differ only in their
    seed are drawn as one mean line with a min-max band. --boundary draws the decision regions of
    a classifier with two numeric inputs, --confusion its confusion matrix, --roc the ROC and
    precision-recall curves of a two-class model, --residuals the predictions of a regression
    model against the truth; --text draws curves, boundary or confusion matrix in the terminal.
    PNGs need the extra: pip install 'nnlearn[plot]'. Prints the path of the picture written.

    \b
    Example:
        nnlearn plot runs/moons
        nnlearn plot runs/lr-0.1 runs/lr-1.0 -o lr.png
        nnlearn plot runs/moons --boundary
        nnlearn plot runs/iris --confusion --data data/iris-test.csv
        nnlearn plot runs/moons --roc
        nnlearn plot runs/diabetes --residuals
        nnlearn plot runs/moons --text
        nnlearn plot runs/spirals --boundary --animate -o learn.gif
    """
    from nnlearn.errors import shown_path
    from nnlearn.plots import png as plotting

    if animate:
        if not boundary or text or len(run_dirs) != 1 or metric:
            raise click.UsageError("--animate goes with --boundary and one RUN_DIR (no --text)")
        _check_suffix(out, ".gif", "--animate writes a GIF")
        from nnlearn.plots.animate import animate_boundary

        click.echo(shown_path(animate_boundary(run_dirs[0], out, data=data)))
        return

    kinds = [k for k, on in (("--boundary", boundary), ("--confusion", confusion),
                             ("--roc", roc), ("--residuals", residuals)) if on]
    if len(kinds) > 1:
        raise click.UsageError(f"choose one of {' and '.join(kinds)}")
    if kinds and (len(run_dirs) != 1 or metric):
        raise click.UsageError(f"{kinds[0]} takes one RUN_DIR and no --metric")
    if data and not kinds:
        raise click.UsageError("--data goes with --boundary, --confusion, --roc or --residuals")
    if text and out:
        raise click.UsageError("--text prints to the terminal; it takes no -o")
    if out:
        from nnlearn.runs.run import run_inputs
        from nnlearn.runs.safeio import check_not_input

        runs_read = run_dirs if kinds or animate else plotting.expand_runs(run_dirs)
        check_not_input(out, [data, *(f for r in runs_read for f in run_inputs(r))],
                        option="-o")
        _check_suffix(out, ".png", "plot writes a PNG")
    if text and (roc or residuals):
        raise click.UsageError(f"{kinds[0]} draws a PNG only; leave out --text")
    if text:
        if boundary:
            click.echo(plotting.text_boundary(run_dirs[0], data=data))
        elif confusion:
            click.echo(plotting.text_confusion(run_dirs[0], data=data))
        else:
            click.echo(plotting.text_curves(run_dirs, metric=metric))
        return
    if boundary:
        path = plotting.plot_boundary(run_dirs[0], out, data=data)
    elif confusion:
        path = plotting.plot_confusion(run_dirs[0], out, data=data)
    elif roc:
        path = plotting.plot_roc(run_dirs[0], out, data=data)
    elif residuals:
        path = plotting.plot_residuals(run_dirs[0], out, data=data)
    else:
        path = plotting.plot_curves(run_dirs, out, metric=metric)
        from nnlearn.runs.run import diverged

        for run in plotting.expand_runs(run_dirs):
            reason = diverged(run)
            if reason is not None:
                click.echo(f"warning: {shown_path(run)} diverged ({reason}); its curves end "
                           "where the loss stopped being finite", err=True)
    click.echo(shown_path(path))


@cli.command(context_settings=CONTEXT)
@click.argument("run_dirs", metavar="RUN_DIR...", nargs=-1, required=True,
                type=click.Path(exists=True, file_okay=False))
@click.option("-o", "--out", type=click.Path(dir_okay=False),
              help="HTML file to write (default: report.html in the run folder; for several "
                   "runs, in the folder that holds them all).")
@_PLUGIN
def report(run_dirs, out):
    """Write one HTML page about a run, to open in any browser (offline, no server).

    Config, metrics and why training stopped; learning curves; the decision regions and the
    network at every snapshot on a slider with a play button (train with --snapshots N); layer
    diagnostics (with --diagnostics); weight histograms; test results. Several runs, or a sweep
    folder, give their curves overlaid and what differs. Prints the path of the page written.

    \b
    Example:
        nnlearn train configs/spirals.yaml --snapshots 20
        nnlearn report runs/spirals
        nnlearn report runs/sweeps/learning-rate -o lr.html
    """
    from nnlearn.errors import shown_path
    from nnlearn.plots.report import build_report

    _check_suffix(out, ".html", "report writes an HTML page")

    click.echo(shown_path(build_report(run_dirs, out)))


if __name__ == "__main__":  # pragma: no cover
    main()
