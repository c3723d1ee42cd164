"""The clock process (``python -m bot.clock``): the only scheduler in production."""

from __future__ import annotations

from apscheduler.schedulers.blocking import BlockingScheduler

from bot import create_app
from bot.jobs import schedule


def main() -> None:
    """Run the fixed job list until stopped."""
    app = create_app()
    scheduler = BlockingScheduler(timezone="Asia/Tokyo")
    schedule(scheduler, app)
    scheduler.start()


if __name__ == "__main__":
    main()
