"""madoguchi's plumbing: the app factory and what every feature stands on."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from flask import Flask
from linebot.v3.webhook import SignatureValidator

#: The features, each a module with ``init_app(app)`` (docs/features.md), in set-up order.
#: This is the only place the plumbing names them.
FEATURES: tuple[str, ...] = (
    "handlers.residents",
    "surveys",
    "coupons",
    "handlers.menu",
)


def create_app(
    test_config: Mapping[str, Any] | None = None, *, features: Sequence[str] = FEATURES
) -> Flask:
    """Build the web app: configuration, database, LINE gateway, dispatch, console, features.

    :param test_config: settings that win over the environment (tests, the dev runner).
    :param features: the feature modules to set up (tests add a toy feature).
    :raises bot.config.ConfigError: invalid configuration, or production without a secret.
    :raises bot.routing.RouteConflict: two features claim the same input.
    """
    from bot import (
        console,
        db,
        errors,
        health,
        i18n,
        inbox,
        inputs,
        logs,
        residentweb,
        surfaces,
        webhook,
        work,
        workers,
    )
    from bot.cli import register_commands
    from bot.config import (
        DEV_ACCESS_TOKEN,
        DEV_CHANNEL_SECRET,
        line_settings,
        load_config,
        uses_simulator,
    )
    from bot.dialog import DialogEngine
    from bot.dispatch import Dispatcher
    from bot.features import Seam, init_features, seam
    from bot.jobs import CORE_JOBS
    from bot.line_api import LineGateway
    from bot.metrics import Metrics
    from bot.pipeline import EventProcessor, refuse_overlong_text
    from bot.routing import Router

    app = Flask(__name__, instance_relative_config=True)
    config = load_config(test_config, instance_path=app.instance_path)
    if uses_simulator(config):
        config.update(
            LINE_CHANNEL_SECRET=DEV_CHANNEL_SECRET,
            LINE_CHANNEL_ACCESS_TOKEN=DEV_ACCESS_TOKEN,
            LINE_API_BASE_URL=f"http://127.0.0.1:{config['SIMULATOR_PORT']}",
            LINE_API_DATA_BASE_URL=None,
            USING_SIMULATOR=True,
        )
    app.config.from_mapping(config)
    app.config["DEBUG"] = False
    if config["TRUSTED_PROXY_COUNT"]:  # the client's address and scheme, as the proxies saw them
        from werkzeug.middleware.proxy_fix import ProxyFix

        proxies = config["TRUSTED_PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)  # type: ignore[method-assign]
    if not app.config.get("TESTING"):
        logs.configure(config["LOG_LEVEL"], config["LOG_FORMAT"])
    os.makedirs(app.instance_path, exist_ok=True)

    database = db.init_app(app)
    work.init_app(app)
    i18n.init_app(app)
    metrics = Metrics()
    gateway = LineGateway(line_settings(config), metrics)
    router = Router()
    dialogs = DialogEngine(timedelta(minutes=config["DIALOG_TIMEOUT_MINUTES"]))
    dispatcher = Dispatcher(router, dialogs)
    app.extensions.update(
        metrics=metrics,
        line=gateway,
        router=router,
        dialogs=dialogs,
        dispatcher=dispatcher,
        webhook_validator=SignatureValidator(config["LINE_CHANNEL_SECRET"] or ""),
        events=EventProcessor(
            db=database,
            gateway=gateway,
            dispatcher=dispatcher,
            metrics=metrics,
            config=app.config,
        ),
        seam=Seam(app, router, dialogs, dispatcher, dict(test_config or {}), os.environ),
    )
    workers.init_app(app)
    metrics.watch_inbox(lambda: inbox.read_backlog(database))
    app.register_blueprint(webhook.bp)
    app.register_blueprint(health.bp)
    surfaces.init_app(app)
    inputs.init_app(app)
    console.init_app(app)
    residentweb.init_app(app)
    console.csrf.exempt(webhook.bp)  # LINE signs its requests; there is no session to forge
    errors.init_app(app)
    register_commands(app)

    core = seam(app)
    for job in CORE_JOBS:
        core.add_job(job)
    core.add_interceptor("too-long", refuse_overlong_text, order=0)
    init_features(app, features)
    return app
