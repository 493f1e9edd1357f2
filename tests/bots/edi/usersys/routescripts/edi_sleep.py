"""Routescript of the recipe's edi_sleep route: a pass-through route that can be slowed down.

After the inbound channel has read the files (so the run already has `ta` rows for them)
the `postincommunication` exit sleeps EDI_RECIPE_SLEEP seconds (environment of the engine,
default 0). A marker file <botssys>/edi_sleep.marker gets `start` before and `end` after the
sleep (`interrupted` on KeyboardInterrupt), so a test knows when to kill the engine.
"""
import os
import time

from bots import botsglobal


def _note(word):
    marker = os.path.join(botsglobal.ini.get('directories', 'botssys'), 'edi_sleep.marker')
    with open(marker, 'a') as handle:
        handle.write(word + '\n')


def postincommunication(routedict, **kwargs):
    seconds = float(os.environ.get('EDI_RECIPE_SLEEP', '0') or 0)
    if seconds <= 0:
        return
    _note('start')
    try:
        time.sleep(seconds)
    except KeyboardInterrupt:
        _note('interrupted')
        raise
    _note('end')
