"""The embedded development mode (``make run``): one process, SQLite, everything inside.

The only place where the clock jobs run inside the web process (STYLE.md: it is one process
by construction). Without LINE credentials the fake LINE platform runs here too (the bot's
gateway already points at it, ``create_app``), with the default rich menu deployed to it and
the resident chat page (``/simulator``) mounted, so a newcomer can play a resident at once.
The features' development services (``Seam.add_dev_service``: a local identity provider,
say) start here as well, and only here.
"""

from __future__ import annotations

import logging

import click
from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask
from werkzeug.serving import run_simple

from bot.features import Running, seam
from bot.jobs import schedule
from bot.line_api import LineApiError
from bot.migrate import upgrade_database
from bot.richmenu import RichMenuError, deploy_default_rich_menu

logger = logging.getLogger(__name__)


def deploy_rich_menu(app: Flask) -> None:
    """Deploy the default rich menu to the fake platform; a failure is a warning, not a crash.

    The fake platform forgets everything when it stops, so every start deploys afresh.
    """
    try:
        with app.app_context():
            result = deploy_default_rich_menu(
                app.extensions["line"], font_path=app.config["RICHMENU_FONT"]
            )
    except (RichMenuError, LineApiError) as error:
        click.echo(
            "warning: the rich menu was not deployed to the fake platform "
            f"(the quick-reply menu still works): {error}",
            err=True,
        )
        return
    click.echo(f"rich menu: {result}")


def run_embedded(app: Flask, *, host: str, port: int) -> None:
    """Migrate, start the simulator (if used) and the clock, then serve until Ctrl-C."""
    upgrade_database(app.config["DATABASE_URL"])
    platform = sender = None
    if app.config.get("USING_SIMULATOR"):
        from simulator import chat
        from simulator.server import start_platform
        from simulator.state import PlatformState
        from simulator.webhooks import WebhookSender

        state = PlatformState(channel_access_token=app.config["LINE_CHANNEL_ACCESS_TOKEN"])
        sender = WebhookSender(
            state,
            webhook_url=f"http://{host}:{port}/callback",
            channel_secret=app.config["LINE_CHANNEL_SECRET"],
        )
        platform = start_platform(state, port=app.config["SIMULATOR_PORT"], webhook=sender)
        chat.install(app)
        deploy_rich_menu(app)
    services: list[Running] = []
    for service in seam(app).dev_services:
        running = service.start(app)
        services.append(running)
        click.echo(service.describe(running))
    scheduler = BackgroundScheduler(timezone="Asia/Tokyo")
    schedule(scheduler, app)
    scheduler.start()
    workers = app.extensions["workers"]
    workers.start(1)  # SQLite has one writer: one event worker is all it can use
    click.echo(f"madoguchi is running at http://{host}:{port}  (webhook: /callback)")
    click.echo(
        f"staff console: http://{host}:{port}/admin/  (first admin: "
        "madoguchi staff create --email you@example.jp --role admin)"
    )
    if platform is not None:
        click.echo(f"resident simulator: http://{host}:{port}/simulator")
        click.echo(
            f"fake LINE platform at {platform.url}; see docs/simulator.md to play a resident"
        )
    try:
        run_simple(host, port, app, threaded=True, use_reloader=False)
    finally:
        workers.stop()
        scheduler.shutdown(wait=False)
        for running in reversed(services):
            running.shutdown()
        if platform is not None:
            platform.shutdown()
        if sender is not None:
            sender.close()
