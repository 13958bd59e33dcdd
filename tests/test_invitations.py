"""Portal invitations: several contact persons of one company each get a login of their own,
through single-use, expiring links (service on the real graph, then the HTTP API and pages)."""

from __future__ import annotations

import logging
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from api.app import create_app
from kbcrm.access import audit, invitations, users
from kbcrm.access.models import AccessDenied, Principal, Role
from kbcrm.graph import EmbeddedServer
from kbcrm.graph.falkordb_backend import FalkorDBStore
from kbcrm.settings import Settings
from tests.smtp_server import smtp_server

ENGINEER = Principal("user:eng", "Eng", Role.engineer)
ANALYST = Principal("user:an", "An", Role.analyst)


@pytest.fixture
def company(falkordb_store: FalkorDBStore) -> FalkorDBStore:
    """Acme with three contacts (one archived) and Other Ltd with one."""
    store = falkordb_store
    store.upsert_nodes("Customer", [{"id": "c:acme", "name": "Acme AG"}, {"id": "c:other", "name": "Other Ltd"}])
    store.upsert_nodes(
        "Contact",
        [
            {"id": "k:ann", "name": "Ann Berg", "email": "ann.berg@acme.example", "status": "active"},
            {"id": "k:bob", "name": "Bob Chen", "email": "bob@acme.example", "status": "active"},
            {"id": "k:old", "name": "Old Timer", "status": "archived"},
            {"id": "k:zed", "name": "Zed Ott", "status": "active"},
        ],
    )
    store.upsert_relationships(
        "HAS_CONTACT",
        [
            {"start": "c:acme", "end": "k:ann"},
            {"start": "c:acme", "end": "k:bob"},
            {"start": "c:acme", "end": "k:old"},
            {"start": "c:other", "end": "k:zed"},
        ],
        start_label="Customer",
        end_label="Contact",
    )
    return store


def _states(store: FalkorDBStore) -> dict[str, str]:
    return {
        r["contact_id"]: r["state"] for r in invitations.portal_access(store, principal=ENGINEER, customer_id="c:acme")
    }


def test_two_contacts_of_one_company_each_accept_their_own_invitation(company: FalkorDBStore) -> None:
    store = company
    assert _states(store) == {"k:ann": "none", "k:bob": "none"}  # archived contacts are not offered
    sent = invitations.invite(store, principal=ENGINEER, customer_id="c:acme", contact_ids=["k:ann", "k:bob"])
    assert [s.contact_id for s in sent] == ["k:ann", "k:bob"]
    assert all(s.token.startswith("kbi_") and len(s.token) > 30 for s in sent)
    assert _states(store) == {"k:ann": "invited", "k:bob": "invited"}
    stored = store.read("MATCH (i:Invitation) RETURN i.token_hash AS h")
    assert len(stored) == 2 and not any(s.token in str(stored) for s in sent)  # only hashes are kept

    offer = invitations.lookup(store, sent[0].token)
    assert offer["customer_name"] == "Acme AG" and offer["contact_name"] == "Ann Berg"
    assert offer["suggested_username"] == "ann.berg"

    ann = invitations.accept(store, sent[0].token, username="ann.berg", password="ann-password-1")
    bob = invitations.accept(store, sent[1].token, username="bob.chen", password="bob-password-1")
    assert ann.role == bob.role == Role.customer
    assert ann.customer_id == bob.customer_id == "c:acme"  # two logins, one company
    assert ann.name == "Ann Berg"
    assert users.authenticate(store, username="bob.chen", password="bob-password-1") == bob
    owners = store.read("MATCH (u:User)-[:LOGIN_OF]->(k:Contact) RETURN u.id AS user, k.id AS contact ORDER BY user")
    assert owners == [{"user": "user:ann.berg", "contact": "k:ann"}, {"user": "user:bob.chen", "contact": "k:bob"}]
    access = {r["contact_id"]: r for r in invitations.portal_access(store, principal=ann, customer_id="c:acme")}
    assert access["k:ann"]["state"] == "login" and access["k:ann"]["username"] == "ann.berg"

    with pytest.raises(invitations.InvitationGone, match="already used"):
        invitations.accept(store, sent[0].token, username="ann.again", password="ann-password-2")
    assert store.read(users.USER, id="user:ann.again") == []
    actions = [e["action"] for e in audit.events(store, target="", actor="", action="", skip=0, limit=50)]
    assert actions.count("invitation_sent") == 2 and actions.count("invitation_accepted") == 2


def test_a_taken_user_name_or_weak_password_leaves_the_link_usable(company: FalkorDBStore) -> None:
    store = company
    users.create_user(store, username="taken", password="taken-password", role=Role.engineer)
    (sent,) = invitations.invite(store, principal=ENGINEER, customer_id="c:acme", contact_ids=["k:ann"])
    with pytest.raises(invitations.InvitationError, match="'taken' is taken"):
        invitations.accept(store, sent.token, username="taken", password="ann-password-1")
    with pytest.raises(users.UserError, match="password: at least 8"):
        invitations.accept(store, sent.token, username="ann", password="short")
    with pytest.raises(users.UserError, match="user name"):
        invitations.accept(store, sent.token, username="ann berg!", password="ann-password-1")
    assert users.get_user(store, "user:taken") is not None and users.get_user(store, "user:taken").role == Role.engineer
    assert invitations.accept(store, sent.token, username="ann", password="ann-password-1").customer_id == "c:acme"


def test_two_people_picking_the_same_new_user_name_at_once_cannot_both_get_it(company: FalkorDBStore) -> None:
    store = company
    sent = invitations.invite(store, principal=ENGINEER, customer_id="c:acme", contact_ids=["k:ann", "k:bob"])
    ann, bob = sorted(sent, key=lambda invitation: invitation.contact_id)
    # Bob's accept has reserved "sam" and is still creating the login when Ann's accept asks for the same name.
    claim = users.reserve_username(store, "sam")
    assert claim is not None and users.reserve_username(store, "sam") is None  # one MERGE wins, the other sees it
    with pytest.raises(invitations.InvitationError, match="'sam' is taken"):
        invitations.accept(store, ann.token, username="sam", password="ann-password-1")
    assert users.authenticate(store, username="sam", password="ann-password-1") is None  # a reservation is no login
    users.release_username(store, "sam", claim)  # Bob's accept failed after all: the name is free again
    assert store.read(users.USER, id="user:sam") == []
    user = invitations.accept(store, ann.token, username="sam", password="ann-password-1")
    assert user.customer_id == "c:acme" and users.authenticate(store, username="sam", password="ann-password-1")
    with pytest.raises(invitations.InvitationError, match="'sam' is taken"):
        invitations.accept(store, bob.token, username="sam", password="bob-password-1")
    rows = store.read(
        "MATCH (u:User {id: 'user:sam'})-[:ACTS_FOR]->(c:Customer) RETURN c.id AS id, u.reserved_by AS mark"
    )
    assert rows == [{"id": "c:acme", "mark": None}]  # one login, one customer, the reservation mark gone
    assert invitations.accept(store, bob.token, username="bob", password="bob-password-1").customer_id == "c:acme"


def test_a_name_reserved_by_an_accept_that_died_is_free_again_after_its_lifetime(company: FalkorDBStore) -> None:
    store = company
    age = "MATCH (u:User {id: $id}) SET u.created_at = '2020-01-01T00:00:00+00:00'"
    dead = users.reserve_username(store, "sam")  # this accept's process was killed before creating the login
    assert dead is not None and users.reserve_username(store, "sam") is None  # still young: taken
    store.run(age, id="user:sam")
    alive = users.reserve_username(store, "sam")
    assert alive is not None and alive != dead and users.reserve_username(store, "sam") is None
    users.release_username(store, "sam", dead)  # the dead claim no longer owns the name
    assert store.read(users.USER, id="user:sam") != []
    (ann,) = invitations.invite(store, principal=ENGINEER, customer_id="c:acme", contact_ids=["k:ann"])
    users.release_username(store, "sam", alive)
    assert invitations.accept(store, ann.token, username="sam", password="ann-password-1").customer_id == "c:acme"
    # A login that was created, even if its reservation mark was never cleared, is never taken over.
    claim = users.reserve_username(store, "tom")
    assert claim is not None
    users.create_user(store, username="tom", password="tom-password-1", role=Role.engineer, name="Tom")
    store.run(age, id="user:tom")
    assert users.reserve_username(store, "tom") is None
    assert users.authenticate(store, username="tom", password="tom-password-1") is not None


def test_expired_revoked_and_replaced_links_stop_working(company: FalkorDBStore) -> None:
    store = company
    (first,) = invitations.invite(store, principal=ENGINEER, customer_id="c:acme", contact_ids=["k:ann"])
    (second,) = invitations.invite(store, principal=ENGINEER, customer_id="c:acme", contact_ids=["k:ann"], days=3)
    with pytest.raises(invitations.InvitationGone, match="withdrawn"):  # a new invitation replaces the old link
        invitations.lookup(store, first.token)
    assert invitations.lookup(store, second.token)["expires_at"] == second.expires_at

    store.run("MATCH (i:Invitation {id: $id}) SET i.expires_at = '2020-01-01T00:00:00+00:00'", id=second.id)
    assert _states(store)["k:ann"] == "expired"
    with pytest.raises(invitations.InvitationGone, match="expired on 2020-01-01"):
        invitations.lookup(store, second.token)
    with pytest.raises(invitations.InvitationGone):
        invitations.accept(store, second.token, username="ann", password="ann-password-1")

    (third,) = invitations.invite(store, principal=ENGINEER, customer_id="c:acme", contact_ids=["k:bob"])
    assert invitations.revoke(store, principal=ENGINEER, invitation_id=third.id)["status"] == "revoked"
    with pytest.raises(invitations.InvitationGone, match="withdrawn"):
        invitations.lookup(store, third.token)
    with pytest.raises(invitations.InvitationError, match="revoked, not pending"):
        invitations.revoke(store, principal=ENGINEER, invitation_id=third.id)
    with pytest.raises(invitations.InvitationNotFound):
        invitations.lookup(store, "kbi_" + "x" * 32)
    assert store.read("MATCH (u:User) RETURN count(u) AS n")[0]["n"] == 0


def test_who_may_invite_whom(company: FalkorDBStore) -> None:
    store = company
    customer = Principal("user:c", "C", Role.customer, customer_id="c:acme")
    for principal in (customer, ANALYST):
        with pytest.raises(AccessDenied):
            invitations.invite(store, principal=principal, customer_id="c:acme", contact_ids=["k:ann"])
    with pytest.raises(invitations.InvitationError, match="'k:zed' is not an active contact of customer 'c:acme'"):
        invitations.invite(store, principal=ENGINEER, customer_id="c:acme", contact_ids=["k:ann", "k:zed"])
    with pytest.raises(invitations.InvitationError, match="'k:old' is not an active contact"):
        invitations.invite(store, principal=ENGINEER, customer_id="c:acme", contact_ids=["k:old"])
    with pytest.raises(invitations.InvitationNotFound):
        invitations.invite(store, principal=ENGINEER, customer_id="c:none", contact_ids=["k:ann"])
    with pytest.raises(invitations.InvitationError, match="days"):
        invitations.invite(store, principal=ENGINEER, customer_id="c:acme", contact_ids=["k:ann"], days=91)
    assert store.read("MATCH (i:Invitation) RETURN count(i) AS n")[0]["n"] == 0  # nothing half-sent
    with pytest.raises(AccessDenied):  # another company's customer may not see Acme's logins
        invitations.portal_access(
            store, principal=Principal("user:o", "O", Role.customer, customer_id="c:other"), customer_id="c:acme"
        )
    (sent,) = invitations.invite(store, principal=ENGINEER, customer_id="c:acme", contact_ids=["k:ann"])
    invitations.accept(store, sent.token, username="ann", password="ann-password-1")
    with pytest.raises(invitations.InvitationError, match="already has the login 'ann'"):
        invitations.invite(store, principal=ENGINEER, customer_id="c:acme", contact_ids=["k:ann"])


@pytest.fixture
def client(company: FalkorDBStore, tmp_path: Path) -> Iterator[TestClient]:
    users.create_user(company, username="admin", password="admin-password", role=Role.admin)
    app = create_app(Settings(data_dir=tmp_path), store=company)
    with TestClient(app, base_url="http://kbcrm.test", follow_redirects=False) as http:
        yield http


def test_api_invite_accept_and_log_in_as_each_contact(client: TestClient, company: FalkorDBStore) -> None:
    admin = client.post("/api/v1/auth/login", json={"username": "admin", "password": "admin-password"}).json()
    csrf = {"X-CSRF-Token": admin["csrf_token"]}
    response = client.post(
        "/api/v1/customers/c:acme/invitations", json={"contact_ids": ["k:ann", "k:bob"], "days": 7}, headers=csrf
    )
    assert response.status_code == 201, response.text
    sent = response.json()
    assert [s["contact_name"] for s in sent] == ["Ann Berg", "Bob Chen"]
    assert all(s["link"].startswith("http://kbcrm.test/invite/kbi_") for s in sent)
    access = client.get("/api/v1/customers/c:acme/portal-access").json()
    assert {a["contact_id"]: a["state"] for a in access} == {"k:ann": "invited", "k:bob": "invited"}
    client.post("/api/v1/auth/logout", headers=csrf)
    client.cookies.clear()

    tokens = [urlparse(s["link"]).path.rsplit("/", 1)[1] for s in sent]
    assert client.post("/api/v1/invitations/lookup", json={"token": tokens[0]}).json()["customer_name"] == "Acme AG"
    accepted = client.post(
        "/api/v1/invitations/accept", json={"token": tokens[0], "username": "ann", "password": "ann-password-1"}
    )
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["customer_id"] == "c:acme"
    assert client.get("/api/v1/auth/me").json()["username"] == "ann"  # accepting logs in
    assert client.get("/api/v1/customers/c:acme/portal-access").status_code == 200
    assert client.get("/api/v1/customers/c:other/portal-access").status_code == 403
    again = client.post(
        "/api/v1/invitations/accept", json={"token": tokens[0], "username": "ann2", "password": "ann-password-1"}
    )
    assert again.status_code == 410 and again.json()["error"]["code"] == "gone"
    client.cookies.clear()

    # The page: the form, a mismatch shown on the form, then the login and My account.
    page = client.get(f"/invite/{tokens[1]}")
    assert page.status_code == 200 and "Bob Chen" in page.text and 'value="bob"' in page.text
    csrf_form = client.cookies.get("kbcrm_login_csrf")
    form = {
        "username": "bob",
        "password": "bob-password-1",
        "password_again": "bob-password-2",
        "csrf_token": csrf_form,
    }
    mismatch = client.post(f"/invite/{tokens[1]}", data=form)
    assert mismatch.status_code == 400 and "passwords differ" in mismatch.text
    assert 'value="bob"' in mismatch.text  # the form keeps the chosen name; its new CSRF cookie is set
    form |= {"password_again": "bob-password-1", "csrf_token": client.cookies.get("kbcrm_login_csrf")}
    done = client.post(f"/invite/{tokens[1]}", data=form)
    assert done.status_code == 303 and done.headers["location"] == "/my"
    assert client.get("/api/v1/auth/me").json()["customer_id"] == "c:acme"
    gone = client.get(f"/invite/{tokens[1]}", headers={"accept": "text/html"})
    assert gone.status_code == 410 and "already used" in gone.text
    assert client.get("/invite/kbi_unknown").status_code == 404


def test_the_console_form_invites_the_ticked_contacts_and_says_when_none_is(
    client: TestClient, company: FalkorDBStore
) -> None:
    admin = client.post("/api/v1/auth/login", json={"username": "admin", "password": "admin-password"}).json()
    form = {"csrf_token": admin["csrf_token"], "days": "5"}
    html = {"accept": "text/html"}
    none = client.post("/staff/customers/c:acme/invitations", data=form, headers=html)
    assert none.status_code == 400 and "choose at least one contact" in none.text
    sent = client.post("/staff/customers/c:acme/invitations", data=form | {"contact_id": ["k:ann", "k:bob"]})
    assert sent.status_code == 201 and sent.text.count("http://kbcrm.test/invite/kbi_") == 2
    page = client.get("/staff/customers/c:acme", params={"format": "json"}).json()
    assert {a["contact_id"]: a["state"] for a in page["portal_access"]} == {"k:ann": "invited", "k:bob": "invited"}


def test_cli_invites_and_prints_each_link_once(
    company: FalkorDBStore, embedded: EmbeddedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from kbcrm.cli import app
    from kbcrm.settings import get_settings

    monkeypatch.setenv("KBCRM_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("KBCRM_GRAPH_URI", f"falkordb+embedded://{embedded.directory}")
    monkeypatch.setenv("KBCRM_GRAPH_NAME", company.graph_name)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        result = runner.invoke(
            app, ["customers", "invite", "c:acme", "k:ann", "k:bob", "--base-url", "https://crm.example"]
        )
        refused = runner.invoke(app, ["customers", "invite", "c:acme", "k:zed"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    links = re.findall(r"https://crm\.example/invite/(kbi_[\w-]+)", result.output)
    assert len(links) == 2
    assert invitations.lookup(company, links[1])["contact_name"] == "Bob Chen"
    assert refused.exit_code == 1 and "'k:zed' is not an active contact of customer 'c:acme'" in refused.output


def test_an_invitation_token_never_reaches_the_access_log(company: FalkorDBStore, tmp_path: Path) -> None:
    # A real uvicorn server with its default logging and the access log on, as `kbcrm serve` runs it.
    (sent,) = invitations.invite(company, principal=ENGINEER, customer_id="c:acme", contact_ids=["k:ann"])
    app = create_app(Settings(data_dir=tmp_path), store=company)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="info", access_log=True))
    lines: list[str] = []
    capture = logging.Handler()
    capture.emit = lambda record: lines.append(record.getMessage())  # type: ignore[method-assign]
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        logging.getLogger("uvicorn.access").addHandler(capture)
        page = httpx.get(f"http://127.0.0.1:{port}/invite/{sent.token}?lang=en")
        assert page.status_code == 200 and "Ann Berg" in page.text  # the link works ...
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        logging.getLogger("uvicorn.access").removeHandler(capture)
    assert any("/invite/[redacted]" in line for line in lines), lines  # ... and is logged without its token
    assert not any(sent.token in line for line in lines)


def _mail_settings(tmp_path: Path, port: int) -> Settings:
    """E-mail on, through the test SMTP server on `port`."""
    return Settings(
        data_dir=tmp_path,
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_security="none",
        mail_from="crm@kbcrm.example",
        public_url="https://crm.example",
    )


def _mail_app(company: FalkorDBStore, tmp_path: Path, port: int) -> TestClient:
    users.create_user(company, username="admin", password="admin-password", role=Role.admin)
    app = create_app(_mail_settings(tmp_path, port), store=company)
    return TestClient(app, base_url="http://attacker.example", follow_redirects=False)


def test_invitation_links_are_emailed_and_a_refused_address_is_reported(company: FalkorDBStore, tmp_path: Path) -> None:
    with smtp_server() as (port, mailbox), _mail_app(company, tmp_path, port) as client:
        mailbox.refuse.add("bob@acme.example")
        admin = client.post("/api/v1/auth/login", json={"username": "admin", "password": "admin-password"}).json()
        response = client.post(
            "/api/v1/customers/c:acme/invitations",
            json={"contact_ids": ["k:ann", "k:bob"]},
            headers={"X-CSRF-Token": admin["csrf_token"]},
        )
        assert response.status_code == 201, response.text
        ann, bob = response.json()
        assert ann["emailed"] is True and ann["email_error"] is None
        assert bob["emailed"] is False and "refused bob@acme.example: 550" in bob["email_error"]
        # Links use KBCRM_PUBLIC_URL, never the Host the request named.
        assert ann["link"].startswith("https://crm.example/invite/kbi_")

        (message,) = mailbox.messages
        assert message["To"] == "ann.berg@acme.example" and message["From"] == "crm@kbcrm.example"
        assert "Acme AG" in message["Subject"]
        body = message.get_content()
        assert ann["link"] in body and "Ann Berg" in body and "attacker" not in body
        token = ann["link"].rsplit("/", 1)[1]
        assert invitations.lookup(company, token)["contact_name"] == "Ann Berg"  # the e-mailed link works
        bob_token = bob["link"].rsplit("/", 1)[1]
        assert invitations.lookup(company, bob_token)["contact_name"] == "Bob Chen"  # not sent, still valid
        events = {(e["action"], e["target"]) for e in audit.events(company, limit=50)}
        assert ("invitation_emailed", ann["id"]) in events and ("invitation_email_failed", bob["id"]) in events

        page = client.post(
            "/staff/customers/c:acme/invitations", data={"csrf_token": admin["csrf_token"], "contact_id": ["k:ann"]}
        )
        assert page.status_code == 201 and '<td class="delivery">sent</td>' in page.text
        assert len(mailbox.messages) == 2


def test_an_unreachable_mail_server_leaves_the_links_to_be_passed_on(company: FalkorDBStore, tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    with _mail_app(company, tmp_path, closed) as client:
        admin = client.post("/api/v1/auth/login", json={"username": "admin", "password": "admin-password"}).json()
        headers = {"X-CSRF-Token": admin["csrf_token"]}
        (ann,) = client.post(
            "/api/v1/customers/c:acme/invitations", json={"contact_ids": ["k:ann"]}, headers=headers
        ).json()
        (zed,) = client.post(
            "/api/v1/customers/c:other/invitations", json={"contact_ids": ["k:zed"]}, headers=headers
        ).json()
    assert ann["emailed"] is False and ann["email_error"].startswith(f"SMTP server 127.0.0.1:{closed}: ")
    assert zed["emailed"] is False and zed["email_error"] == "the contact has no e-mail address"
    assert invitations.lookup(company, ann["link"].rsplit("/", 1)[1])["contact_name"] == "Ann Berg"


def test_email_needs_a_sender_and_the_portal_address(tmp_path: Path) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="KBCRM_PUBLIC_URL"):
        Settings(data_dir=tmp_path, smtp_host="mail.example", mail_from="crm@example.com")
    with pytest.raises(ValidationError, match="KBCRM_MAIL_FROM"):
        Settings(data_dir=tmp_path, smtp_host="mail.example", public_url="https://crm.example")
    with pytest.raises(ValidationError, match="public_url"):
        Settings(data_dir=tmp_path, public_url="crm.example/no-scheme")
    assert Settings(data_dir=tmp_path).smtp_host == ""  # off by default


def test_no_line_break_from_the_graph_reaches_a_mail_header(tmp_path: Path) -> None:
    from kbcrm.mail import Message, SmtpMailer

    sent = invitations.SentInvitation("i", "k", "Ann", "ann@acme.example", "kbi_x", "2031-01-01", "Acme\r\nBcc: x@evil")
    assert "\n" not in invitations.invitation_message(sent, "https://crm.example").subject
    with smtp_server() as (port, mailbox):
        results = SmtpMailer(_mail_settings(tmp_path, port)).send(
            [Message("ann@acme.example\nBcc: x@evil", "hi", "text"), Message("bob@acme.example", "hi", "text")]
        )
    assert results[0] is not None and "not sent" in results[0] and results[1] is None
    assert [m["To"] for m in mailbox.messages] == ["bob@acme.example"]
