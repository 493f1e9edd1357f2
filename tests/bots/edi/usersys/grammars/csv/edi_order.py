"""Incoming grammar of the bots-runtime EDI test recipe: a tiny purchase order as CSV.

Each HDR record starts an order (a message); one or more LIN records follow it, e.g.

    HDR,PO-1001,ACME,20261201
    LIN,1,SKU-RED,5
    LIN,2,SKU-BLUE,2.5

A file breaks this grammar (and ends as a file error) when it has an unknown record tag,
a LIN before the HDR, a non-numeric quantity, a bad date or a missing mandatory field.
"""
from bots.botsconfig import *  # noqa: F401,F403 - ID, MIN, MAX, LEVEL as in every Bots grammar

syntax = {
    'field_sep': ',',
    'quote_char': '',
    'record_sep': '\n',
    'charset': 'utf-8',
}

# every HDR starts a new message: the mapping runs once per order
nextmessage = ({'BOTSID': 'HDR'},)

structure = [
    {ID: 'HDR', MIN: 1, MAX: 9999, LEVEL: [
        {ID: 'LIN', MIN: 1, MAX: 999},
    ]},
]

recorddefs = {
    'HDR': [
        ['BOTSID', 'M', 3, 'AN'],
        ['ORDERNO', 'M', 20, 'AN'],
        ['BUYER', 'M', 35, 'AN'],
        ['ORDERDATE', 'M', 8, 'DT'],
    ],
    'LIN': [
        ['BOTSID', 'M', 3, 'AN'],
        ['LINENO', 'M', 6, 'N'],
        ['SKU', 'M', 20, 'AN'],
        ['QTY', 'M', 12, 'R'],
    ],
}
