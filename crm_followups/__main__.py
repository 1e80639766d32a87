from crm_followups.cli.app import main

main(prog_name="python -m crm_followups")
