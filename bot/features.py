"""The feature seam: the one place a feature package plugs into madoguchi.

A feature is a module with ``init_app(app)``. ``create_app`` imports each module named in its
feature list and calls ``init_app``, which registers everything the feature brings through
:func:`seam`: its settings (read and checked from the environment right there), LINE routes,
dialog flows and interceptors, staff-console pages with their menu entries and dashboard
tiles, resident pages, clock jobs, translation catalogs, ``madoguchi`` CLI commands and
development services (started by ``make run`` only, like the fake LINE platform). Then
:meth:`Seam.finish` checks the whole (two registrations claiming the same input are refused)
and closes registration.

The plumbing (``bot/``) never imports a feature; it only knows the seam. docs/features.md
walks through adding one.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import click
from flask import Blueprint, Flask

from bot.config import SETTINGS, ConfigError, Setting
from bot.dialog import DialogEngine, Flow
from bot.dispatch import Dispatcher, Intercept, Interceptor
from bot.jobs import Job
from bot.routing import Handler, Predicate, Router


class SeamClosed(RuntimeError):
    """Raised when something registers after the app has finished starting."""


class Running(Protocol):
    """A started development service: something ``make run`` stops when it ends."""

    def shutdown(self) -> None:
        """Stop the service."""


@dataclass(frozen=True)
class DevService:
    """A service the embedded development mode (``make run``) starts beside the bot, such as
    a local identity provider standing in for a real one (never started in production)."""

    name: str
    #: Starts the service for the app and returns it running; ``describe`` says where.
    start: Callable[[Flask], Running]
    #: One line for the console once it runs (``"local OpenID provider at http://..."``).
    describe: Callable[[Running], str] = lambda running: repr(running)


@dataclass
class Seam:
    """What the features of one app registered (``app.extensions["seam"]``)."""

    app: Flask
    router: Router
    dialogs: DialogEngine
    dispatcher: Dispatcher
    #: Where settings are read from: ``create_app``'s overrides, then the environment.
    given: Mapping[str, Any]
    environ: Mapping[str, str]
    settings: list[Setting] = field(default_factory=list)
    jobs: list[Job] = field(default_factory=list)
    dev_services: list[DevService] = field(default_factory=list)
    #: The feature modules, in the order they were initialised.
    features: list[str] = field(default_factory=list)
    _closed: bool = False

    def _open(self) -> None:
        if self._closed:
            raise SeamClosed("features register in init_app, while the app is created")

    def add_setting(self, setting: Setting) -> Any:
        """Read, check and store a setting in ``app.config``; return its value.

        :raises ConfigError: the value is invalid, or the name is already a setting.
        """
        self._open()
        if any(s.name == setting.name for s in (*SETTINGS, *self.settings)):
            raise ConfigError(f"setting {setting.name} is registered twice")
        value = setting.read(self.given, self.environ)
        self.app.config[setting.name] = value
        self.settings.append(setting)
        return value

    def add_route(
        self, name: str, predicate: Predicate, handler: Handler, *, group: int = 0
    ) -> None:
        """Route events matching ``predicate`` to ``handler`` (see :class:`bot.routing.Router`)."""
        self._open()
        self.router.add(name, predicate, handler, group=group)

    def set_fallback(self, handler: Handler) -> None:
        """The one handler for events nothing else takes."""
        self._open()
        self.router.set_fallback(handler)

    def add_flow(self, flow: Flow) -> None:
        """Register a dialog flow (checked now; see :func:`bot.dialog.check_flow`)."""
        self._open()
        self.dialogs.register(flow)

    def add_interceptor(self, name: str, handle: Intercept, *, order: int) -> None:
        """Run ``handle`` on every one-to-one event before the router, by ``order``.

        The dialog engine's order is :data:`bot.dispatch.DIALOGS`; ``handle`` returns True to
        claim the event.
        """
        self._open()
        self.dispatcher.add(Interceptor(name, order, handle))

    def add_job(self, job: Job) -> None:
        """Add a clock job (run by the one clock process, in its own unit of work).

        :raises ValueError: the job id is taken.
        """
        self._open()
        if any(j.id == job.id for j in self.jobs):
            raise ValueError(f"clock job {job.id!r} registered twice")
        self.jobs.append(job)

    def add_blueprint(self, blueprint: Blueprint, **options: Any) -> None:
        """Register a blueprint: console pages (``bot.console.console_blueprint``), resident
        pages, or anything else the feature serves."""
        self._open()
        self.app.register_blueprint(blueprint, **options)

    def add_nav(self, item: Any) -> None:
        """Add an entry to the console menu (a :class:`bot.console.NavItem`)."""
        from bot.console import register_nav

        self._open()
        register_nav(self.app, item)

    def add_tile(self, tile: Any) -> None:
        """Add a dashboard tile (a :class:`bot.console.Tile`)."""
        from bot.console import register_tile

        self._open()
        register_tile(self.app, tile)

    def add_translations(self, directory: str | Path) -> None:
        """Add a folder of compiled catalogs (``<lang>/LC_MESSAGES/messages.mo``).

        Features in this repository share the project catalog (one file for translators);
        this is for features that ship their own.

        :raises FileNotFoundError: the folder does not exist.
        """
        self._open()
        folder = Path(directory)
        if not folder.is_dir():
            raise FileNotFoundError(f"no translations folder at {folder}")
        self.app.extensions["babel"].translation_directories.append(str(folder))

    def add_command(self, command: click.Command) -> None:
        """Add a ``madoguchi`` CLI command or group (``madoguchi coupons import-campaign``).

        :raises ValueError: a command of that name exists already.
        """
        self._open()
        if command.name is None or command.name in self.app.cli.commands:
            raise ValueError(f"CLI command {command.name!r} registered twice")
        self.app.cli.add_command(command)

    def add_dev_service(self, service: DevService) -> None:
        """Add a service ``make run`` starts beside the bot (development only).

        :raises ValueError: a service of that name exists already.
        """
        self._open()
        if any(s.name == service.name for s in self.dev_services):
            raise ValueError(f"development service {service.name!r} registered twice")
        self.dev_services.append(service)

    def finish(self) -> None:
        """Check what was registered and close registration.

        :raises bot.routing.RouteConflict: two registrations claim the same input.
        """
        self.dispatcher.check()
        self._closed = True


def seam(app: Flask) -> Seam:
    """The seam of an app (features call this in ``init_app``)."""
    found: Seam = app.extensions["seam"]
    return found


def init_features(app: Flask, names: Iterable[str]) -> None:
    """Import each feature module and call its ``init_app(app)``, in order.

    :raises ConfigError: a module has no ``init_app``.
    """
    registry = seam(app)
    for name in names:
        module = importlib.import_module(name)
        init_app = getattr(module, "init_app", None)
        if not callable(init_app):
            raise ConfigError(f"feature {name!r} has no init_app(app)")
        init_app(app)
        registry.features.append(name)
    registry.finish()
