from exporter.mixin.render import main

raise SystemExit(main())
