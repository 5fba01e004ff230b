// PublicAPI module
