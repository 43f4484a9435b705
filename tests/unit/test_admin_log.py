"""The admin log's chain under concurrency: administrators acting at once (threads, their own connections) never
read the same tail, so every act gets its own seq and the chain verifies."""
import threading

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.models import AdminEventModel
from engine.services import admin_log, users
from engine.services.users import SYSTEM, load_actor


def test_concurrent_admin_acts_each_get_a_place_in_one_chain(db_engine, session, directory):
    session.commit()
    errors = []

    def act(worker: int):
        with Session(db_engine, expire_on_commit=False, info=session.info) as own:
            admin = load_actor(own, "admin")
            for i in range(5):
                try:
                    users.add_user(own, admin, f"w{worker}.u{i}", f"用户{worker}{i}", "Granite-Meadow-Falcon-83",
                                   [("mediator", "330106001")])
                except Exception as exc:  # noqa: BLE001 - collected and asserted below
                    errors.append(exc)
                    own.rollback()

    threads = [threading.Thread(target=act, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    session.expire_all()
    seqs = list(session.scalars(select(AdminEventModel.seq).order_by(AdminEventModel.seq)))
    assert seqs == list(range(1, len(seqs) + 1))
    assert session.scalar(select(func.count()).select_from(AdminEventModel)
                          .where(AdminEventModel.action == "user_created", AdminEventModel.actor == "admin")) == 20
    check = admin_log.verify_admin_log(session, SYSTEM)
    assert check.ok and check.checked == len(seqs)
