"""``python -m crm_followups.privacy erase --customer-id ID [--source-system generic]``.

Run it between nights: it writes the warehouse, which the nightly DAG holds while it runs.
The printed summary names the customer by their erasure key only."""

from __future__ import annotations

import argparse
import json
import logging

from crm_followups.core.settings import Settings
from crm_followups.privacy.erasure import erase_customer


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m crm_followups.privacy")
    commands = parser.add_subparsers(dest="command", required=True)
    erase = commands.add_parser("erase", help="erase a customer everywhere, on their request")
    erase.add_argument("--customer-id", required=True, help="the customer's id in their CRM")
    erase.add_argument("--source-system", default="generic",
                       help="the export the customer comes from (generic, hubspot, salesforce, a mapped "
                            "export's name); default: generic")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    erasure = erase_customer(Settings(), args.customer_id, args.source_system)
    print(json.dumps({"erasure_key": erasure.key, "rows_deleted": erasure.rows_deleted,
                      "files_rewritten": len(erasure.files_rewritten)}, indent=2))


if __name__ == "__main__":
    main()
