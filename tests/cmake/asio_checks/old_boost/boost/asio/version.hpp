// A stand-in for the Boost.Asio version header of Boost 1.79 (bad input for halt.asio.boost_too_old).
#pragma once
#define BOOST_ASIO_VERSION 102202 // 1.22.2
