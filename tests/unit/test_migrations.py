"""Every model change has its migration: a field or a choice changed without one would reach production
databases only as a surprise."""

import io

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_no_model_change_lacks_a_migration():
    out = io.StringIO()
    try:
        call_command("makemigrations", "--check", "--dry-run", stdout=out, stderr=out)
    except SystemExit as exit_:
        pytest.fail(f"makemigrations --check found changes without a migration (exit {exit_.code}):\n{out.getvalue()}")
