// Starts posthog-js (vendored: ./vendor/posthog.js) with the project key and host the server put in
// <meta name="tenantry-posthog">. A separate file, not an inline script: the pages' policy allows
// scripts from this site only. Nothing is fetched from PostHog's script host.
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="tenantry-posthog"]');
  if (!meta || !window.posthog) {
    return;
  }
  var config = JSON.parse(meta.getAttribute("content"));
  var posthog = window.posthog;
  posthog.init(config.key, {
    api_host: config.host,
    disable_external_dependency_loading: true,
    // Anonymous visitors get no person profile; the server's events carry the user id.
    person_profiles: "identified_only",
    capture_pageview: true,
  });
  // The signed-in user and organization, as the server's events name them (the page's <body>
  // carries their ids): the browser's events join the same person and group.
  var who = document.body.dataset;
  if (who.userId) {
    if (posthog.get_distinct_id() !== who.userId) {
      posthog.identify(who.userId);
    }
    if (who.organizationId) {
      posthog.group("organization", who.organizationId);
    }
  } else if (posthog.get_property("$user_state") === "identified") {
    // Signed out: the next visitor on this browser starts anonymous, not as the last user.
    posthog.reset();
  }
})();
