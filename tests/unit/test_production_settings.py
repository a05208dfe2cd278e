"""Production settings (issue #13 part 7): secure cookies, HSTS, a CSP without inline scripts, `check --deploy`
clean; password reset only with mail; the language switch logged out; A/B tests in the admin."""

import importlib
import json
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib import admin
from django.urls import clear_url_caches, reverse

from webapp.evals.models import ABTest

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "templates"

# What the response of a production process looks like: run in a subprocess, since settings read the environment
# once. No database is touched (an anonymous GET of the login page).
PROBE = """
import json
from django.conf import settings
from django.test import Client
client = Client(HTTP_HOST="localhost")
page = client.get("/accounts/login/", secure=True)
cookie = page.cookies["csrftoken"]
print(json.dumps({
    "plain_http": [client.get("/accounts/login/").status_code, client.get("/accounts/login/")["Location"]],
    "csp": page["Content-Security-Policy"], "hsts": page["Strict-Transport-Security"],
    "csrf_cookie": {"secure": cookie["secure"], "httponly": cookie["httponly"], "samesite": cookie["samesite"]},
    "session_cookie": [settings.SESSION_COOKIE_SECURE, settings.SESSION_COOKIE_HTTPONLY,
                       settings.SESSION_COOKIE_SAMESITE],
    "proxy_header": settings.SECURE_PROXY_SSL_HEADER,
}))
"""


def production_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "FTLOOP_EMBEDDED": "false", "FTLOOP_DEBUG": "false",
            "FTLOOP_SECRET_KEY": secrets.token_urlsafe(60), "FTLOOP_DATA_DIR": str(tmp_path / "data"),
            "FTLOOP_ALLOWED_HOSTS": "localhost", **extra}


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


def test_check_deploy_is_clean_in_production_mode(tmp_path):
    result = manage(production_env(tmp_path), "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_production_cookies_are_secure_and_http_only_with_hsts_and_an_https_redirect(tmp_path):
    result = manage(production_env(tmp_path, FTLOOP_PROXY_SSL_HEADER="X-Forwarded-Proto"), "shell", "-c", PROBE)
    assert result.returncode == 0, result.stderr
    probe = json.loads(result.stdout.splitlines()[-1])  # after the shell's own "objects imported" line
    assert probe["plain_http"] == [301, "https://localhost/accounts/login/"]
    assert probe["hsts"] == "max-age=31536000; includeSubDomains; preload"
    assert probe["csrf_cookie"] == {"secure": True, "httponly": True, "samesite": "Lax"}
    assert probe["session_cookie"] == [True, True, "Lax"]
    assert probe["proxy_header"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert "script-src 'self'" in probe["csp"].split("; ")


@pytest.mark.django_db
def test_every_page_carries_a_csp_that_allows_no_inline_script(client):
    policy = client.get(reverse("login"))["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["default-src"] == "'self'" and directives["object-src"] == "'none'"


def test_no_template_has_an_inline_script_event_handler_or_evaluated_htmx_attribute():
    """htmx evaluates hx-on, trigger filters ([...]) and js: values with Function(), which the CSP refuses."""
    inline_scripts, handlers = [], []
    for template in TEMPLATES.rglob("*.html"):
        text = template.read_text(encoding="utf-8")
        for tag in re.findall(r"<script\b[^>]*>", text):
            if "src=" not in tag and 'type="application/json"' not in tag:
                inline_scripts.append(f"{template.name}: {tag}")
        handlers += [f"{template.name}: {found}" for found in re.findall(
            r"\son[a-z]+\s*=|hx-on\S*=|hx-trigger=\"[^\"]*\[|hx-(?:vals|vars)='?\"?js:", text)]
    assert not inline_scripts and not handlers, inline_scripts + handlers


@pytest.fixture
def reload_urls(settings):
    """Rebuild the URL patterns after changing settings they read at import (password reset)."""

    def reload() -> None:
        import webapp.urls

        importlib.reload(webapp.urls)
        clear_url_caches()

    yield reload
    settings.FTLOOP_PASSWORD_RESET = False
    reload()


@pytest.mark.django_db
def test_password_reset_is_offered_only_with_a_mail_backend(client, settings, reload_urls):
    assert not settings.FTLOOP_PASSWORD_RESET  # no FTLOOP_EMAIL_HOST / FTLOOP_EMAIL_BACKEND in the test env
    assert client.get("/accounts/password_reset/").status_code == 404
    assert "Forgot your password?" not in client.get(reverse("login")).content.decode()

    settings.FTLOOP_PASSWORD_RESET = True
    reload_urls()
    assert client.get("/accounts/password_reset/").status_code == 200
    assert "Forgot your password?" in client.get(reverse("login")).content.decode()


@pytest.mark.django_db
def test_the_language_switch_works_on_the_login_page_logged_out(client):
    response = client.post(reverse("set_language"), {"language": "ja", "next": reverse("login")})
    assert response.status_code == 302 and response["Location"] == reverse("login")
    assert "ログイン" in client.get(reverse("login")).content.decode()


@pytest.mark.django_db
def test_ab_tests_are_in_the_admin(admin_client):
    assert admin.site.is_registered(ABTest)
    assert admin_client.get(reverse("admin:evals_abtest_changelist")).status_code == 200
