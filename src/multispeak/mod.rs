//! The MultiSpeak 3.0 SOAP 1.1 wire protocol spoken with Daffron's CB server.
