from mailticket.cli import main

raise SystemExit(main())
