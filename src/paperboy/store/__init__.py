"""The database: schema, migrations, engine set-up and the queries everything else uses."""
