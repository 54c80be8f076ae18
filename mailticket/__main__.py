from mailticket.app.cli import main

raise SystemExit(main())
