"""Outgoing grammar of the bots-runtime EDI test recipe: one flat CSV line per order line.

    LINE;PO-1001;ACME;1;SKU-RED;5
"""
from bots.botsconfig import *  # noqa: F401,F403

syntax = {
    'field_sep': ';',
    'quote_char': '',
    'record_sep': '\n',
    'charset': 'utf-8',
    'merge': False,  # one outgoing file per incoming order
}

structure = [
    {ID: 'LINE', MIN: 1, MAX: 9999},
]

recorddefs = {
    'LINE': [
        ['BOTSID', 'M', 4, 'AN'],
        ['ORDERNO', 'M', 20, 'AN'],
        ['BUYER', 'M', 35, 'AN'],
        ['LINENO', 'M', 6, 'N'],
        ['SKU', 'M', 20, 'AN'],
        ['QTY', 'M', 12, 'R'],
    ],
}
