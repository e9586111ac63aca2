// A stand-in for the version header of Boost 1.79 (bad input for halt.asio.boost_too_old).
#pragma once
#define BOOST_VERSION 107900 // 1.79.0
