"""The STAC catalog's recovery tooling: a scratch PostgreSQL + pgSTAC + STAC API on this machine
(`scratchdb`), the restore drill (`drill`), and item correction with an audit trail (`items`).
The backup itself runs in the image: `runner.catalog_backup` (the CronWorkflow's step)."""
