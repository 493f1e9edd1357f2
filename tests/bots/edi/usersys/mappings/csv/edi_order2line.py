"""Mapping of the bots-runtime EDI test recipe: csv edi_order -> csv edi_line.

Every LIN of the order becomes one LINE record carrying the order number and buyer.
An order whose BUYER is REJECT makes the mapping raise: that message (and so the file)
ends in error after a successful parse, which is a second kind of file error.
"""


def main(inn, out):
    orderno = inn.get({'BOTSID': 'HDR', 'ORDERNO': None})
    buyer = inn.get({'BOTSID': 'HDR', 'BUYER': None})
    if buyer == 'REJECT':
        raise ValueError('buyer REJECT is refused by the recipe mapping')
    for lin in inn.getloop({'BOTSID': 'HDR'}, {'BOTSID': 'LIN'}):
        line = out.putloop({'BOTSID': 'LINE'})
        line.put({'BOTSID': 'LINE', 'ORDERNO': orderno})
        line.put({'BOTSID': 'LINE', 'BUYER': buyer})
        line.put({'BOTSID': 'LINE', 'LINENO': lin.get({'BOTSID': 'LIN', 'LINENO': None})})
        line.put({'BOTSID': 'LINE', 'SKU': lin.get({'BOTSID': 'LIN', 'SKU': None})})
        line.put({'BOTSID': 'LINE', 'QTY': lin.get({'BOTSID': 'LIN', 'QTY': None})})
