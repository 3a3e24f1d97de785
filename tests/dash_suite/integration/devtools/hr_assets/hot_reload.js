window.cheese = "roquefort";
