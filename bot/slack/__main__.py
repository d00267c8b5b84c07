"""`python -m bot.slack`: the same as `awssec serve` with the default knowledge."""

import sys

from bot.slack.server.serve import serve

sys.exit(serve(None))
