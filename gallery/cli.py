"""The `gallery` command: build, validate, layers, clean, serve, publish, figure, report.

Every user-fixable problem surfaces as a GalleryError and is printed as one line (file:line: key:
message) with exit status 2; nothing already built is touched.

The commands that load models import gallery.build or gallery.models inside their bodies, after
`startup.quiet_tensorflow` has imported TensorFlow with its start-up lines silenced; every other command
(and `--help`) starts without TensorFlow.
"""

from __future__ import annotations

import errno
import json
import logging
import shutil
import sys
import threading
import warnings
from collections.abc import Callable
from functools import partial, wraps
from pathlib import Path
from typing import Any

import click

from gallery import __version__, estimate, images, output, progress
from gallery import config as config_module
from gallery import figure as figure_module
from gallery import publish as publish_module
from gallery import report as report_module
from gallery import serve as serve_module
from gallery.errors import GalleryError
from gallery.files import LEFTOVER, atomic_path
from gallery.plan import count
from gallery.startup import quiet_tensorflow
from gallery.store import Store

DEFAULT_CACHE = Path(".gallery-cache")
# The config a command without one reads its site folder from, when the working directory has it.
DEFAULT_CONFIG = Path("atlas.yaml")
CONFIG_ARG = click.argument("config", type=click.Path(path_type=Path))
SITE_OPTION = click.option("--site", "--out", "site", type=click.Path(path_type=Path),
                           help="The site folder (default: the config's site.out, else 'site').")
CONFIG_OPTION = click.option("--config", type=click.Path(path_type=Path),
                             help=f"The config whose site.out names the site folder (default: ./{DEFAULT_CONFIG} "
                                  "when it exists).")


def site_folder(site: Path | None, config: Path | None) -> Path:
    """`--site` where given, else the config's `site.out` (the given config, or ./atlas.yaml), else `site`."""
    if site is not None:
        return site
    if config is None and DEFAULT_CONFIG.is_file():
        config = DEFAULT_CONFIG
    if config is None:
        return Path("site")
    return Path(config_module.site_out(config))


def _one_line_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except GalleryError as exc:
            for line in str(exc).splitlines() or [type(exc).__name__]:
                click.echo(f"error: {line}", err=True)
            sys.exit(2)
    return wrapper


def _tensorflow_command(command: Callable[..., Any]) -> Callable[..., Any]:
    """A command that loads models: TensorFlow imported quietly first; on Ctrl-C, say what survives."""
    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            quiet_tensorflow()  # importing TensorFlow takes seconds: a Ctrl-C then is an interruption too
            return command(*args, **kwargs)
        except KeyboardInterrupt:
            click.echo("interrupted: the previous site and every finished render are intact", err=True)
            sys.exit(130)
    return _one_line_errors(wrapper)


# A file system that refuses a path the user gave (read-only, no room, a file where a folder must be):
# their setup to change, said in one line, not a failure of gallery.
USER_ERRNOS = {errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EDQUOT, errno.EEXIST, errno.ENOTDIR,
               errno.EISDIR, errno.ENOENT, errno.ENAMETOOLONG}


def _where(path: Path) -> Path:
    """The path to name: a temporary file's folder rather than its made-up name."""
    return path.parent if LEFTOVER.match(path.name) else path


class Commands(click.Group):
    """Every failure as one line: a usage mistake (a bad option value, an unknown command) like any other
    error, and a failure gallery did not foresee too (`-v` shows its traceback), never a traceback alone."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        if not kwargs.pop("standalone_mode", True):
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            code = super().main(*args, standalone_mode=False, **kwargs)
        except click.UsageError as exc:
            command = exc.ctx.command_path if exc.ctx else "gallery"
            click.echo(f"error: {exc.format_message()} (see `{command} --help`)", err=True)
            sys.exit(2)
        except click.ClickException as exc:
            click.echo(f"error: {exc.format_message()}", err=True)
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("aborted", err=True)
            sys.exit(1)
        except OSError as exc:
            if exc.filename is None or exc.errno not in USER_ERRNOS or logging.getLogger("gallery").isEnabledFor(
                    logging.DEBUG):
                raise
            click.echo(f"error: {_where(Path(exc.filename))}: {exc.strerror}", err=True)  # a path the user gave
            sys.exit(2)
        except Exception as exc:  # a bug: say so in one line; -v shows where
            if logging.getLogger("gallery").isEnabledFor(logging.DEBUG):
                raise
            click.echo(f"error: unexpected {type(exc).__name__}: {' '.join(str(exc).split())[:300]} (a bug in "
                       "gallery: run with -v to see where)", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


@click.group(cls=Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="gallery")
@click.option("-v", "--verbose", is_flag=True, help="Log what each stage does.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars or stage lines: errors and results only.")
def main(verbose: bool, quiet: bool) -> None:
    """Turn a YAML config into a static atlas of what a CNN has learned.

    \b
    gallery init mnist_cnn               write a starter config (atlas.yaml) from a model's layers
    gallery layers configs/mnist.yaml    list layers, to write a config
    gallery schema                       every config key, as JSON Schema
    gallery validate configs/mnist.yaml  check a config without training
    gallery build configs/mnist.yaml     train or load, render, write site/
    gallery serve                        preview site/ at http://127.0.0.1:8000/
    gallery publish                      push site/ to the gh-pages branch of origin
    gallery figure mnist preds           a labelled grid of a layer, PNG and SVG
    gallery figure --compare tv-sweep    a comparison page as one labelled table
    gallery report mnist                 one self-contained HTML file about a model
    """
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(message)s")
    logging.getLogger("gallery").setLevel(logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO)
    progress.quiet(quiet)
    if not verbose:  # a network that overflows is reported on its pages (n/a, "failed"), not by NumPy's warnings
        warnings.filterwarnings("ignore", r"(overflow|invalid value|divide by zero) encountered", RuntimeWarning)


@main.command()
@CONFIG_ARG
@SITE_OPTION
@click.option("--cache", type=click.Path(path_type=Path), default=DEFAULT_CACHE, show_default=True,
              help="Where trained weights and rendered images are kept between builds.")
@click.option("--force", is_flag=True, help="Re-render every image (trained weights are kept).")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="Where images render: this process, or a Ray cluster (pip install 'cnn-gallery[ray]').")
@click.option("--address", help="With --executor ray: the cluster, 'auto' (the one `ray start` joined this "
              "machine to), HOST:PORT or ray://HOST:PORT; default: the Ray running on this machine, else one "
              "started for this build.")
@click.option("--actors", type=click.IntRange(min=1), help="With --executor ray: this many workers sharing the "
              "cluster's CPUs, at most one per CPU (default: one per node, or one per GPU).")
@_tensorflow_command
def build(config: Path, site: Path | None, cache: Path, force: bool, executor: str, address: str | None,
          actors: int | None) -> None:
    """Train or load each model, render every visualization, write the site.

    Images already in the cache are reused: a second build with nothing changed renders nothing.
    With --executor ray the images render on a Ray cluster's workers and this machine stores them
    (README: "Bigger than one machine").
    """
    from gallery import build as build_module

    if executor == "ray":
        summary = build_module.run(config, site, cache, force, _ray_executor(address, actors))
    else:
        if address or actors:
            raise click.UsageError("--address and --actors need --executor ray")
        summary = build_module.run(config, site, cache, force)
    click.echo(summary.line())


def _ray_executor(address: str | None, actors: int | None) -> Callable[..., Any]:
    try:
        from gallery.executor.ray import RayExecutor, checked_address
    except ImportError as exc:
        raise GalleryError(f"--executor ray needs Ray ({exc}): pip install 'cnn-gallery[ray]'") from None
    checked_address(address)  # a typo in it: one line before any model trains or loads
    return partial(RayExecutor, address=address, actors=actors)


@main.command()
@CONFIG_ARG
@_tensorflow_command
def validate(config: Path) -> None:
    """Check a config: schema, names, model files, layers and filter indices. Trains nothing."""
    from gallery import build as build_module

    loaded, plan = build_module.check(config)
    try:  # the site folder the config names: one build would refuse (the cache is given at build time)
        output.check(Path(loaded.config.site.out), DEFAULT_CACHE, config)
    except output.SiteRefused as exc:
        raise loaded.error(("site", "out"), str(exc)) from None
    except GalleryError:
        pass  # where the cache or the config sit against it: `gallery build` says, with its own --cache
    click.echo(f"{config}: ok, {plan.counts}")
    if plan.jobs:
        from gallery.renderers.devices import matmul_rate

        click.echo(f"  activation maximization: {estimate.summary(estimate.cost(plan, plan.models), matmul_rate())}")
    for spec in loaded.config.models:  # what a model of one's own was told about itself
        info, facts = plan.models[spec.id], []
        if getattr(spec, "labels", None) is not None:
            facts.append(count(len(info.labels.get(info.output.name, ())), "class name"))
        if getattr(spec, "data", None) is not None and spec.source != "builtin":
            folder = loaded.resolve(spec.data.dir)
            found = min(len(images.image_files(folder)), spec.data.limit or config_module.DEFAULT_REFERENCES)
            facts.append(f"{count(found, 'reference image file')} in {spec.data.dir}")
        if getattr(spec, "preprocess", None) is not None:
            facts.append("preprocessing in the graph")
        if getattr(spec, "weights", None) == "imagenet":  # checked offline: only the build fetches them
            facts.append("ImageNet weights are downloaded by the first build (it needs the network, "
                         "unless Keras has them in ~/.keras/models)")
        if facts:
            click.echo(f"  {spec.id}: {', '.join(facts)}")


@main.command()
@click.argument("model")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=DEFAULT_CONFIG, show_default=True,
              help="The config file to write (never over an existing file).")
@_tensorflow_command
def init(model: str, output: Path) -> None:
    """Write a commented starter config for MODEL: a builtin (mnist_cnn), a .keras/.h5 file or a
    keras.applications name (MobileNetV2), from its real layers.

    It draws a few filters of each stage's last conv layer and the output units, with Lucid's recipe
    for RGB inputs of 96 px and more, and feature maps and attribution of a sample photo.
    """
    from gallery import build as build_module
    from gallery import starter

    if output.exists():
        raise GalleryError(f"{output} exists: gallery init writes only a new file (give -o another name)")
    text = starter.starter(model, output)
    with atomic_path(output) as draft:  # checked before it takes the name: a failure leaves nothing
        draft.write_text(text, encoding="utf-8")
        _, plan = build_module.check(draft)
    click.echo(f"wrote {output}: {count(len(plan.jobs), 'activation-maximization image')} on "
               f"{count(len(plan.targets), 'layer')}; next: gallery build {output}")


@main.command()
def schema() -> None:
    """Print the config's JSON Schema: every key, its type, bounds, default and description.

    Editors that read JSON Schema (VS Code's YAML extension, for one) complete and check a config with it.
    """
    click.echo(json.dumps(config_module.Config.model_json_schema(), indent=1))


@main.command()
@CONFIG_ARG
@_tensorflow_command
def layers(config: Path) -> None:
    """List every model's layers: name, type, output shape, parameters, filters or units.

    A layer inside a nested model (a transfer-learning backbone) is listed indented under that model,
    by its path (backbone/block_13_expand): the name to give in a config.
    """
    from gallery import models
    from gallery.models.describe import describe

    loaded = config_module.load(config)
    for spec in loaded.config.models:
        info = describe(spec.id, models.network(spec, loaded))  # no labels: a wrong one must not hide the layers
        width = max(24, *(len(row.name) + 2 * row.name.count("/") for row in info.layers))
        kinds = max(20, *(len(row.type) for row in info.layers))  # GlobalAveragePooling2D is 22
        shapes = max(22, *(len(row.shape_text) for row in info.layers))
        click.echo(f"{spec.id}:")
        click.echo(f"  {'name':<{width}} {'type':<{kinds}} {'output shape':<{shapes}} {'params':>10} "
                   f"{'filters/units':>13}")
        opened: set[str] = set()
        for row in info.layers:
            parts = row.name.split("/")[:-1]
            for depth in range(len(parts)):
                if "/".join(parts[:depth + 1]) not in opened:
                    opened.add("/".join(parts[:depth + 1]))
                    click.echo(f"  {'  ' * depth}{parts[depth]}/ (nested model)")
            units = "" if row.units is None else str(row.units)
            name = "  " * row.name.count("/") + row.name
            click.echo(f"  {name:<{width}} {row.type:<{kinds}} {row.shape_text:<{shapes}} {row.params:>10,} "
                       f"{units:>13}")


@main.command()
@click.option("--cache", type=click.Path(path_type=Path), default=DEFAULT_CACHE, show_default=True)
@SITE_OPTION
@CONFIG_OPTION
@click.option("--models", "with_models", is_flag=True, help="Also delete trained weights.")
@_one_line_errors
def clean(cache: Path, site: Path | None, config: Path | None, with_models: bool) -> None:
    """Delete the built site and every rendered image in the cache (trained weights too with --models).

    The cache's renders serve every site built with it: the next build of any of them renders again.
    Only a site folder gallery wrote (it holds a .gallery-site marker) is deleted; any other folder
    is refused, so `gallery clean --site .` cannot delete a project. Files you added to a built site
    stay, with the folder that holds them.
    """
    out = site_folder(site, config)
    folder = output.check(out, cache, doing="deleted")
    existed = folder.exists()
    with output.locked(folder):
        Store(cache).clear()
        kept = output.remove_written(folder) if existed else []
        if with_models:
            shutil.rmtree(cache / "models", ignore_errors=True)
    site_part = (f"what gallery wrote in {out}/ and " if kept else f"{out}/ and " if existed else "")
    weights = " and trained weights" if with_models else ""
    names = ", ".join(str(path) for path in kept[:5]) + (", ..." if len(kept) > 5 else "")
    click.echo(f"removed {site_part}every rendered image in {cache}/{weights}"
               + ("" if existed else f" (there is no site at {out}/)")
               + (f"; kept {count(len(kept), 'file')} you added to the site: {names}" if kept else ""))


@main.command()
@SITE_OPTION
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True,
              help="Port on 127.0.0.1 (0: any free port).")
@click.option("--watch", "config", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Rebuild the site into --site whenever this config file is saved; reload the page to see it.")
@click.option("--cache", type=click.Path(path_type=Path), default=DEFAULT_CACHE, show_default=True,
              help="With --watch: the build's cache.")
@_one_line_errors
def serve(site: Path | None, port: int, config: Path | None, cache: Path) -> None:
    """Preview the site over HTTP (missing pages get 404.html, as on GitHub Pages).

    With --watch CONFIG the site is built first and rebuilt on every save of CONFIG; a config with
    an error prints its one-line error and the previous site stays served.
    """
    out = site_folder(site, config)
    rebuild = None
    if config is not None:
        quiet_tensorflow()
        from gallery import build as build_module

        def rebuild() -> None:
            try:
                click.echo(build_module.run(config, out, cache).line())
            except GalleryError as exc:
                for line in str(exc).splitlines():
                    click.echo(f"error: {line}", err=True)
            except Exception as exc:  # the server keeps serving the previous site whatever a rebuild meets
                click.echo(f"error: the rebuild failed ({type(exc).__name__}: {' '.join(str(exc).split())[:300]}); "
                           "the previous site is still served", err=True)
            sys.stdout.flush()

        rebuild()
    with serve_module.server(out, port) as httpd:
        click.echo(f"serving {out}/ at {serve_module.url(httpd)}"
                   + (f", rebuilding on changes to {config}" if config else "") + " (Ctrl-C to stop)")
        sys.stdout.flush()
        try:
            if rebuild is None:
                httpd.serve_forever()
            else:
                threading.Thread(target=httpd.serve_forever, daemon=True).start()
                serve_module.watch(config, rebuild, threading.Event())
        except KeyboardInterrupt:
            click.echo("stopped")


@main.command()
@SITE_OPTION
@CONFIG_OPTION
@click.option("--remote", default="origin", show_default=True, help="A remote of this repository, or a URL or path.")
@click.option("--branch", default="gh-pages", show_default=True,
              help="The branch whose whole content the site becomes.")
@click.option("--message", help="Commit message (default: names the commit the site was published from).")
@click.option("--cname", help="A custom domain for GitHub Pages (atlas.example.org), written as the branch's CNAME.")
@click.option("--no-history", is_flag=True,
              help="Replace the branch with one commit (a force push), so old pictures do not pile up in it.")
@_one_line_errors
def publish(site: Path | None, config: Path | None, remote: str, branch: str, message: str | None,
            cname: str | None, no_history: bool) -> None:
    """Push the site folder as the whole content of a branch, one commit per publish.

    Run it inside the repository: the commit is made with git plumbing, so the working tree, the
    index and the checked-out branch are left exactly as they were. Prints how much it pushes and,
    for a GitHub remote (or with --cname), the address GitHub Pages serves the site at.
    """
    click.echo(publish_module.publish(site_folder(site, config), remote, branch, message, cname=cname,
                                      history=not no_history).line())


def _filter_list(ctx: click.Context, param: click.Parameter, value: str | None) -> list[int] | None:
    if not value:
        return None
    try:
        return [int(part) for part in value.split(",")]
    except ValueError:
        raise click.BadParameter("comma-separated numbers, e.g. 3,1,7") from None


@main.command()
@click.argument("model", required=False)
@click.argument("layer", required=False)
@click.option("--compare", "comparison", metavar="ID",
              help="Draw a comparison page instead, by the id its URL shows: tv-sweep for compare/tv-sweep.html, "
                   "mnist/preds/compare for a layer's settings, mnist/depth (listed in atlas.json).")
@click.option("--setting", help="The setting to show (default: the one the site shows the layer under first).")
@SITE_OPTION
@CONFIG_OPTION
@click.option("-o", "--output", type=click.Path(),
              help="Where to write, without suffix: OUTPUT.png and OUTPUT.svg (default: MODEL-LAYER-SETTING, "
                   "or the comparison's id with - for /; in OUTPUT where it is a folder or ends in /).")
@click.option("--columns", type=click.IntRange(min=1), help="Pictures per row (default: a roughly square grid).")
@click.option("--filters", callback=_filter_list, help="Only these filters or units, in this order, e.g. 3,1,7.")
@click.option("--dpi", type=click.IntRange(min=50, max=1200), default=300, show_default=True,
              help="Resolution of the PNG (50-1200).")
@click.option("--no-title", is_flag=True, help="Leave out the title line.")
@_one_line_errors
def figure(model: str | None, layer: str | None, comparison: str | None, setting: str | None, site: Path | None,
           config: Path | None, output: str | None, columns: int | None, filters: list[int] | None, dpi: int,
           no_title: bool) -> None:
    """Draw one layer's pictures as a labelled grid ("Filter 12"), or with --compare one comparison
    page as a table with its headings and row labels: a PNG at print resolution and a standalone SVG.

    Reads a built site: run `gallery build` first.
    Examples: gallery figure mnist conv2d_1 · gallery figure --compare tv-sweep
    """
    folder = site_folder(site, config)
    if comparison is not None:
        if model or layer or setting or columns or filters:
            raise click.UsageError("--compare ID draws a whole comparison: leave out MODEL, LAYER, --setting, "
                                   "--columns and --filters")
        png, svg = figure_module.write_comparison_figure(folder, comparison, output, dpi, not no_title)
    elif model and layer:
        png, svg = figure_module.write_figure(folder, model, layer, setting, output, columns, filters, dpi,
                                              not no_title)
    else:
        raise click.UsageError("name a MODEL and a LAYER (gallery figure mnist conv2d_1) or a comparison "
                               "(gallery figure --compare tv-sweep)")
    click.echo(f"wrote {png} and {svg}")


@main.command()
@click.argument("model", required=False)
@SITE_OPTION
@CONFIG_OPTION
@click.option("-o", "--output", type=click.Path(),
              help="The HTML file (default: MODEL-report.html, in OUTPUT where it is a folder or ends in /).")
@click.option("--per-layer", type=click.IntRange(min=1), default=8, show_default=True,
              help="Pictures shown per visualized layer.")
@click.option("--setting", help="Show every layer rendered under this setting under it (default: the setting "
                                "the site shows each layer under first).")
@_one_line_errors
def report(model: str | None, site: Path | None, config: Path | None, output: str | None, per_layer: int,
           setting: str | None) -> None:
    """Write one self-contained HTML file about MODEL (images inlined) to mail or hand in.

    Reads a built site: run `gallery build` first. MODEL may be left out when the site has one model.
    """
    path = report_module.write_report(site_folder(site, config), model, output, per_layer, setting)
    click.echo(f"wrote {path} ({path.stat().st_size // 1024:,} KB, opens offline)")
