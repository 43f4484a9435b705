"""Who is calling: users.load_actor (a web session's username) and users.actor_for_token (an API token) build
the same Actor, grants included, in one statement each; unknown, inactive and revoked callers are refused."""
import pytest
from sqlalchemy import event, update

from engine.errors import AuthenticationFailed, NotFound
from engine.models import ApiTokenModel, MembershipModel, UserModel
from engine.services import users
from tests.support import PASSWORD


def _statements(session):
    sent = []
    event.listen(session.get_bind(), "before_cursor_execute", lambda *args: sent.append(args[2]))
    return sent


def test_an_actor_has_every_grant_with_its_unit(session, directory):
    directory.create_user(session, "two_units", PASSWORD, ["mediator", "unit_head"], ["330106000", "330106001"])
    actor = users.load_actor(session, "two_units")
    assert actor.username == "two_units" and actor.display_name == "two_units" and actor.user_id is not None
    assert [(g.role, g.org_code, g.org_path.count("/")) for g in actor.grants] == [
        ("mediator", "330106000", 2), ("mediator", "330106001", 3),
        ("unit_head", "330106000", 2), ("unit_head", "330106001", 3)]
    assert actor.holds("unit_head", actor.grants[3].org_unit_id)


@pytest.mark.committed_db  # counts the SQL sent, where savepoint mode adds SAVEPOINT and RELEASE
def test_a_token_gives_the_same_actor_as_the_username_in_one_statement(session, directory):
    token = users.issue_token(session, "township_mediator")
    sent = _statements(session)
    by_token = users.actor_for_token(session, token)
    assert len(sent) == 1
    assert by_token == users.load_actor(session, "township_mediator")
    assert [(g.role, g.org_code) for g in by_token.grants] == [("mediator", "330106001")]


def test_a_user_without_memberships_is_an_actor_without_grants(session, directory):
    user = session.query(UserModel).filter_by(username="labour").one()
    session.query(MembershipModel).filter_by(user_id=user.id).delete()
    session.commit()
    assert users.load_actor(session, "labour").grants == ()
    assert users.actor_for_token(session, users.issue_token(session, "labour")).grants == ()


def test_unknown_inactive_and_revoked_callers_are_refused(session, directory):
    token = users.issue_token(session, "mediator1")
    with pytest.raises(NotFound):
        users.load_actor(session, "nobody")
    with pytest.raises(AuthenticationFailed):
        users.actor_for_token(session, "not-a-token")
    session.execute(update(ApiTokenModel).values(revoked=True))
    session.commit()
    with pytest.raises(AuthenticationFailed):
        users.actor_for_token(session, token)
    other = users.issue_token(session, "mediator2")
    session.execute(update(UserModel).where(UserModel.username == "mediator2").values(active=False))
    session.commit()
    with pytest.raises(AuthenticationFailed):
        users.actor_for_token(session, other)
    with pytest.raises(NotFound):
        users.load_actor(session, "mediator2")
