"""The web app's route modules (see ``fivesafes.web.app.ROUTER_MODULES``)."""
