//! RTDR: real-time balance look-ups (GetPayableItemsList), decisions D13/D14.
