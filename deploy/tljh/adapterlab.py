"""The workbook's settings for a JupyterHub on one machine: The Littlest JupyterHub (TLJH), or any hub
that starts each learner's server as a local process under the learner's own Unix account.

On TLJH, copy this file to /opt/tljh/config/jupyterhub_config.d/adapterlab.py and run
`sudo tljh-config reload` (docs/JUPYTERHUB.md has the whole set-up). tests/hub/ start a real JupyterHub
with this very file, so what it does is tested; only the two folders below come from the environment
there (ADAPTERLAB_ROOM_MODELS, ADAPTERLAB_ROOM_NOTEBOOKS), and keep the defaults below on a real hub.
"""

import os

c = get_config()  # noqa: F821 (JupyterHub defines get_config in the namespace of its config files)

# Built once by the administrator (`python -m adapterlab build`), then made read-only for learners.
MODELS = os.environ.get("ADAPTERLAB_ROOM_MODELS", "/srv/adapterlab-models")
# The workbook's notebooks, as the administrator checked them out; learners get their own copy.
NOTEBOOKS = os.environ.get("ADAPTERLAB_ROOM_NOTEBOOKS", "/srv/workbook/notebooks")

# Every learner's kernel reads the shared models. And one thread per kernel: torch starts one per core
# in every kernel, and a room has more kernels than cores (16 learners running notebook 01 at once on
# 2 cores: 109 s with one thread each, 122 s with one per core; docs/hub_room.md).
c.Spawner.environment.update({"ADAPTERLAB_CACHE": MODELS, "OMP_NUM_THREADS": "1"})

# Each learner gets their own copy of the notebooks, as ~/workbook, the first time their server starts
# (never again, so their edits survive a restart). The copy is made by the learner's own account, just
# before the single-user server starts, so it is theirs to edit. This wraps whatever command the hub
# already runs (TLJH and JupyterHub both default to `jupyterhub-singleuser`): `sh -c SCRIPT $0 $@...`
# copies $0 (the notebooks folder), then `exec`s the original command with the hub's arguments.
COPY_THEN_START = (
    'test -e "$HOME/workbook" || { cp -r "$0" "$HOME/workbook" && chmod -R u+w "$HOME/workbook"; }; exec "$@"'
)
_singleuser = c.Spawner.cmd if "cmd" in c.Spawner else ["jupyterhub-singleuser"]
_singleuser = [_singleuser] if isinstance(_singleuser, str) else list(_singleuser)
c.Spawner.cmd = ["/bin/sh", "-c", COPY_THEN_START, NOTEBOOKS, *_singleuser]
c.Spawner.default_url = "/lab/tree/workbook/00_start_here.ipynb"
