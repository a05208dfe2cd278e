"""W&B offline stays under FTLOOP_DATA_DIR (issue #13 part 9): nothing in the home or working directory."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# What a training worker does: an offline run under DATA_DIR/tracking that logs metrics and an adapter artifact.
OFFLINE_RUN = textwrap.dedent("""
    import sys
    from pathlib import Path
    from pipeline import tracking

    data_dir = Path(sys.argv[1])
    adapter = data_dir / "runs" / "7" / "adapter"
    adapter.mkdir(parents=True)
    (adapter / "adapter_model.safetensors").write_bytes(b"\\0" * 1_000_000)
    with tracking.open_run(project="ftloop", name="train-7", config={"lora_r": 8}, tags={"run_id": "7"},
                           directory=data_dir / "tracking", env={"WANDB_MODE": "offline"}) as run:
        run.log({"train/loss": 1.5}, step=1)
        run.log_artifact(adapter, "adapter-run-7", "adapter")
    print(run.ref()["dir"])
""")


def files_under(path: Path) -> list[str]:
    return sorted(str(found.relative_to(path)) for found in path.rglob("*") if found.is_file())


def test_an_offline_wandb_run_writes_nothing_outside_the_data_dir(tmp_path, data_dir):
    home, cwd, scratch = (tmp_path / name for name in ("home", "cwd", "tmp"))
    for directory in (home, cwd, scratch):
        directory.mkdir()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("WANDB_", "XDG_"))}
    env |= {"HOME": str(home), "TMPDIR": str(scratch), "WANDB_MODE": "offline", "PYTHONPATH": str(ROOT)}

    result = subprocess.run([sys.executable, "-c", OFFLINE_RUN, str(data_dir)], cwd=cwd, env=env,
                            capture_output=True, text=True, timeout=300)

    assert result.returncode == 0, result.stderr[-3000:]
    run_dir = Path(result.stdout.strip().splitlines()[-1])
    assert run_dir.is_relative_to(data_dir / "tracking") and list(run_dir.glob("run-*.wandb"))
    assert files_under(home) == [] and files_under(cwd) == [] and files_under(scratch) == []
    written = files_under(data_dir / "tracking")
    assert any(name.startswith("wandb-home/data/artifacts/staging/") for name in written), written
    assert any(name.startswith("wandb-home/cache/") for name in written), written
