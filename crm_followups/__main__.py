from crm_followups.cli import main

main()
