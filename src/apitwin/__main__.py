from apitwin.cli import main

main()
