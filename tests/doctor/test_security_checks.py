"""tutor doctor reports the security settings and warns where they leave something open."""

from __future__ import annotations

from bot.config import load_config
from bot.doctor.security import security_checks
from tests.conftest import TEST_CONFIG, write_config


async def test_doctor_warns_about_an_open_discord_and_names_the_settings(tmp_path):
    settings = load_config(
        write_config(tmp_path, TEST_CONFIG + '\n[discord]\nmoderator_roles = ["Moderator"]\n'),
        {"DISCORD_TOKEN": "t", "TUTOR_DATA_DIR": str(tmp_path / "data")},
    )
    results = {r.name: r for r in await security_checks(settings)}
    assert results["discord access"].status == "warn"
    assert "[discord] guilds" in results["discord access"].fix
    assert results["discord moderators"].status == "warn"
    assert results["operators"].status == "warn" and "operator_ids" in results["operators"].fix
    assert "phones (region US)" in results["privacy"].detail
    assert "header timeout" in results["slack limits"].detail
    assert "kept 30 days" in results["stored data"].detail


async def test_doctor_passes_a_closed_setup_and_flags_loose_files(tmp_path):
    text = TEST_CONFIG + "\n[discord]\nguilds = [123456789012345678]\noperator_ids = [42]\n"
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    settings = load_config(
        write_config(tmp_path, text), {"DISCORD_TOKEN": "t", "TUTOR_DATA_DIR": str(data)}
    )
    results = {r.name: r for r in await security_checks(settings)}
    assert results["discord access"].status == "pass"
    assert "123456789012345678" in results["discord access"].detail
    assert results["operators"].status == "pass"
    assert results["stored data"].status == "warn" and "chmod 700" in results["stored data"].fix
