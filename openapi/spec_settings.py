# Tenant settings (design §9, Neo's api-reference/settings). Exec'd by spec.py like the other spec_*.py.

HOUR = nullable({"type": "integer", "minimum": 0, "maximum": 23})
schemas.update({
    "PublicSettings": {"type": "object", "properties": {
        "start_business_hours": HOUR, "end_business_hours": HOUR,
        "timezone": nullable({"type": "string", "description": "IANA time zone (e.g. Europe/Berlin); the default for schedules."}),
        "human_friendly_client_name": nullable({"type": "string", "maxLength": 200}),
        "referral_code": nullable({"type": "string", "maxLength": 200}),
        "sleep_before_callback_processing_seconds": nullable({"type": "integer", "minimum": 0, "maximum": 3600}),
    }},
})

paths.update({
    "/public-api/settings": {
        "get": op("getSettings", "The tenant's settings (any key)", "Settings", 200, ref("PublicSettings"), AUTH),
        "put": op("updateSettings", "Change tenant settings (partial; admin keys); answers the whole object", "Settings", 200,
                  ref("PublicSettings"), ["400", "415", "422"] + AUTH, body=ref("PublicSettings")),
    },
})
