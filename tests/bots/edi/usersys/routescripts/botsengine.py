"""Engine-wide user exit of the bots-runtime EDI tests (Bots imports it at every run).

`post` runs after the last command has written its `report` row and before Bots' cleanup.
- EDI_RECIPE_POST_SLEEP=<seconds>: sleep there, marking `post-start`/`post-end` in
  <botssys>/edi_sleep.marker, so a test can kill the engine AFTER the report is written
  (the mutex row is still there).
- EDI_TEST_POST_UNLINK_DB=1: remove the SQLite database's name, a symbolic link the test put
  there; the engine goes on with the real file it opened, but nothing can open the database
  by its name any more (how a test makes Bots' report unreadable after a run that worked).
Without the variables it does nothing.
"""
import os
import time

from bots import botsglobal


def post(**kwargs):
    if os.environ.get('EDI_TEST_POST_UNLINK_DB'):
        from django.conf import settings
        name = settings.DATABASES['default']['NAME']
        if os.path.islink(name):
            os.unlink(name)
    seconds = float(os.environ.get('EDI_RECIPE_POST_SLEEP', '0') or 0)
    if seconds <= 0:
        return
    marker = os.path.join(botsglobal.ini.get('directories', 'botssys'), 'edi_sleep.marker')
    with open(marker, 'a') as handle:
        handle.write('post-start\n')
    time.sleep(seconds)
    with open(marker, 'a') as handle:
        handle.write('post-end\n')
